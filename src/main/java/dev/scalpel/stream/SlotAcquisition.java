package dev.scalpel.stream;

import java.time.Duration;

import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.jspecify.annotations.Nullable;
import reactor.core.publisher.BaseSubscriber;

import dev.scalpel.slot.Permit;
import dev.scalpel.slot.QueueFull;
import dev.scalpel.slot.QueueTimeout;
import dev.scalpel.slot.SlotPool;

/**
 * Waits for a slot on behalf of a stream: its queue positions go to its log, a granted slot starts
 * its {@link UpstreamCall}, and a queue timeout or a failure ends it. A full queue refuses the wait
 * synchronously ({@link Overloaded}), before anything waits.
 */
final class SlotAcquisition {

	// Logged under the manager's name, which operators' log filters know.
	private static final Log logger = LogFactory.getLog(StreamManager.class);

	private final SlotPool slots;

	private final Duration retryAfter;

	private final StreamLifecycle lifecycle;

	private final UpstreamCall upstream;

	SlotAcquisition(SlotPool slots, Duration retryAfter, StreamLifecycle lifecycle, UpstreamCall upstream) {
		this.slots = slots;
		this.retryAfter = retryAfter;
		this.lifecycle = lifecycle;
		this.upstream = upstream;
	}

	/**
	 * Asks for a slot; {@link Overloaded} when the queue is full. A slot granted at once is held back
	 * until the returned wait is {@linkplain Wait#arm() armed}; null when the stream was already
	 * acquiring or terminal.
	 */
	@Nullable Wait acquire(ManagedStream stream) {
		Wait wait = new Wait(stream);
		if (!stream.beginAcquiring(wait)) {
			return null;
		}
		this.slots.acquire(position -> {
			if (stream.queued(position)) {
				stream.signal();
			}
		}).subscribe(wait);
		if (wait.refused) {
			stream.abandonAcquiring(wait);
			throw new Overloaded(this.slots.capacity(), this.slots.queueMax(), this.retryAfter);
		}
		return wait;
	}

	/** One stream's wait: a three-way race of grant, cancel (the stream's end) and timeout. */
	final class Wait extends BaseSubscriber<Permit> {

		private final ManagedStream stream;

		/** Set synchronously during subscription when the queue was full. */
		boolean refused;

		/** Whether a granted slot may start the upstream call; guarded by this. */
		private boolean armed;

		/** A slot granted before arming; guarded by this. */
		private @Nullable Permit early;

		Wait(ManagedStream stream) {
			this.stream = stream;
		}

		/** Lets the slot start the upstream call, now if it was granted already. */
		void arm() {
			Permit permit;
			synchronized (this) {
				this.armed = true;
				permit = this.early;
				this.early = null;
			}
			if (permit != null) {
				SlotAcquisition.this.upstream.granted(this.stream, permit);
			}
		}

		@Override
		protected void hookOnNext(Permit permit) {
			synchronized (this) {
				if (!this.armed) {
					this.early = permit;
					return;
				}
			}
			SlotAcquisition.this.upstream.granted(this.stream, permit);
		}

		@Override
		protected void hookOnCancel() {
			// The stream ended before it was armed: the early slot goes back.
			Permit permit;
			synchronized (this) {
				permit = this.early;
				this.early = null;
			}
			if (permit != null) {
				permit.release();
			}
		}

		@Override
		protected void hookOnError(Throwable failure) {
			if (failure instanceof QueueFull) {
				this.refused = true;
			}
			else if (failure instanceof QueueTimeout) {
				SlotAcquisition.this.lifecycle.end(this.stream,
						Ending.failed(FinishReason.QUEUE_TIMEOUT, String.valueOf(failure.getMessage())), Guard.NONE);
			}
			else {
				logger.error("Stream " + this.stream.id() + " failed while waiting for a slot", failure);
				SlotAcquisition.this.lifecycle.end(this.stream,
						Ending.failed(FinishReason.INTERNAL_ERROR, "waiting for a slot failed"), Guard.NONE);
			}
		}

	}

}
