package dev.scalpel.stream;

import org.jspecify.annotations.Nullable;
import reactor.core.Disposable;

import dev.scalpel.slot.Permit;

/**
 * What a live stream holds (its queue place, slot, upstream call, deadline and timer) until its
 * terminal transition hands it all over at once. Guarded by its stream's monitor.
 */
final class Holdings {

	private @Nullable Disposable acquisition;

	private @Nullable Permit permit;

	/**
	 * The slot of a generation that has ended but may not have been given back yet: the end hands it
	 * to its caller, which closes the upstream call first and frees the slot after. Until
	 * {@link #released()}, the leak audit counts it as the stream's.
	 */
	private @Nullable Permit releasing;

	private @Nullable Disposable generation;

	private @Nullable Disposable deadline;

	private @Nullable Disposable timer;

	boolean acquiring() {
		return this.acquisition != null;
	}

	void acquiring(Disposable acquisition) {
		this.acquisition = acquisition;
	}

	/** Forgets a queue place that was refused; a later one is kept. */
	void abandon(Disposable acquisition) {
		if (this.acquisition == acquisition) {
			this.acquisition = null;
		}
	}

	@Nullable Permit permit() {
		return this.permit;
	}

	@Nullable Permit releasing() {
		return this.releasing;
	}

	void started(Permit permit, Disposable generation, Disposable deadline) {
		this.permit = permit;
		this.generation = generation;
		this.deadline = deadline;
	}

	/** Arms the attach timeout or the disconnect grace, replacing any earlier timer. */
	void arm(Disposable timer) {
		if (this.timer != null) {
			this.timer.dispose();
		}
		this.timer = timer;
	}

	/** Disposes the timer: a listener came. */
	void disarm() {
		if (this.timer != null) {
			this.timer.dispose();
			this.timer = null;
		}
	}

	/** Hands everything over to the terminal transition's caller, which releases it. */
	HeldResources handOver(long createdNanos, long startedNanos) {
		HeldResources held = new HeldResources(this.generation, this.acquisition, this.permit, this.deadline,
				this.timer, createdNanos, startedNanos);
		this.releasing = this.permit;
		this.generation = null;
		this.acquisition = null;
		this.permit = null;
		this.deadline = null;
		this.timer = null;
		return held;
	}

	/** What {@link #handOver} handed out has been let go. */
	void released() {
		this.releasing = null;
	}

}
