package dev.scalpel.stream;

import org.jspecify.annotations.Nullable;
import reactor.core.Disposable;

import dev.scalpel.slot.Permit;

/** What a terminal transition took from its stream; its caller releases it, once. */
record HeldResources(@Nullable Disposable generation, @Nullable Disposable acquisition, @Nullable Permit permit,
		@Nullable Disposable deadline, @Nullable Disposable timer, long createdNanos, long startedNanos) {

	/** Closes the upstream call first, then leaves the queue, then frees the slot. */
	void release() {
		dispose(this.generation);
		dispose(this.acquisition);
		if (this.permit != null) {
			this.permit.release();
		}
		dispose(this.deadline);
		dispose(this.timer);
	}

	private static void dispose(@Nullable Disposable disposable) {
		if (disposable != null) {
			disposable.dispose();
		}
	}

}
