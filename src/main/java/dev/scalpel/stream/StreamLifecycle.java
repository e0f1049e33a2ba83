package dev.scalpel.stream;

import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import reactor.core.Disposable;
import reactor.core.scheduler.Scheduler;

/**
 * The one way a stream ends, and the listeners' comings and goings that may end it.
 *
 * <p>Every path that ends a stream (completion, failure, timeout, cancel, last listener gone, attach
 * timeout, shutdown, the leak audit) calls {@link #end}, the only caller of the stream's terminal
 * transition: its first caller wins the stream's compare-and-set and, in the same call, closes the
 * upstream call, leaves the queue and frees the slot, then gives back the quota place, retires the
 * stream and wakes its listeners, who read the terminal event from the log.
 */
final class StreamLifecycle {

	private final StreamRegistry registry;

	private final Quotas quotas;

	private final StreamObserver observer;

	private final StreamProperties properties;

	private final Clock clock;

	private final Scheduler timers;

	/** Listeners attached right now. */
	private final AtomicInteger listeners = new AtomicInteger();

	StreamLifecycle(StreamRegistry registry, Quotas quotas, StreamObserver observer, StreamProperties properties,
			Clock clock, Scheduler timers) {
		this.registry = registry;
		this.quotas = quotas;
		this.observer = observer;
		this.properties = properties;
		this.clock = clock;
		this.timers = timers;
	}

	/**
	 * Ends a stream unless it has ended or the guard does not hold. Returns whether this call ended it;
	 * when it returns true, the upstream call is closed, the queue place is left and the slot is free.
	 */
	boolean end(ManagedStream stream, Ending ending, Guard guard) {
		// The trigger: the cancel call, the detected disconnect, the last token, the error, the timer.
		long triggered = System.nanoTime();
		HeldResources held = stream.end(ending, guard, this.clock.instant());
		if (held == null) {
			return false;
		}
		held.release();
		stream.released();
		long released = System.nanoTime();
		if (stream.quotaCounted()) {
			this.quotas.release(stream.owner());
		}
		this.registry.retire(stream);
		stream.signal();
		this.observer.ended(stream.id(), ending.reason(), Duration.ofNanos(released - held.createdNanos()),
				(held.startedNanos() != 0) ? Duration.ofNanos(released - held.startedNanos()) : null,
				(held.permit() != null) ? Duration.ofNanos(released - triggered) : null);
		return true;
	}

	/**
	 * Cancels a stream: when this returns, a live stream is {@code cancelled/cancel_requested}, its slot
	 * is free, its upstream call is closed and its terminal event is in the log. A terminal stream is
	 * returned unchanged.
	 */
	StreamView cancel(ManagedStream stream) {
		end(stream, Ending.of(FinishReason.CANCEL_REQUESTED), Guard.NONE);
		return stream.view();
	}

	/** Tells the observers of a stream just created (its start was accepted). */
	void created(ManagedStream stream) {
		this.observer.created(stream.id(), stream.model(), stream.background());
	}

	/** A listener of the stream that will read the events after {@code after}, not yet attached. */
	Listener listener(ManagedStream stream, long after) {
		return new Listener(stream, after, this::left);
	}

	/**
	 * Counts a listener the stream took: its stream is no longer waiting for one, and the listener leaves
	 * if its answer is not subscribed within the attach timeout.
	 */
	Listener attached(ManagedStream stream, Listener listener) {
		stream.attached();
		this.listeners.incrementAndGet();
		listener.expireUnlessConnected(schedule(this.properties.attachTimeout(), listener::abandon));
		return listener;
	}

	/** A non-background stream started without a listener ends {@code never_attached} unless one comes in time. */
	void awaitListener(ManagedStream stream) {
		arm(stream, this.properties.attachTimeout(),
				() -> end(stream, Ending.of(FinishReason.NEVER_ATTACHED), Guard.NEVER_ATTACHED));
	}

	/** Listeners attached right now. */
	int listenerCount() {
		return this.listeners.get();
	}

	/** Runs {@code action} on the timers after {@code delay}. */
	Disposable schedule(Duration delay, Runnable action) {
		return this.timers.schedule(action, delay.toNanos(), TimeUnit.NANOSECONDS);
	}

	private void left(Listener listener) {
		ManagedStream stream = listener.stream();
		if (listener.fellBehind()) {
			this.observer.listenerDropped(stream.id());
		}
		int remaining = stream.detach(listener);
		if (remaining >= 0) {
			this.listeners.decrementAndGet();
		}
		if (remaining != 0 || stream.background() || stream.terminal()) {
			return;
		}
		Duration grace = this.properties.disconnectGrace();
		if (listener.fellBehind() && grace.compareTo(this.properties.attachTimeout()) < 0) {
			// Dropped by us, not gone: its client may resume, so the stream waits for a listener as long
			// as a stream started without one does, and only then counts as abandoned.
			grace = this.properties.attachTimeout();
		}
		if (grace.isZero()) {
			end(stream, Ending.of(FinishReason.CLIENT_DISCONNECTED), Guard.UNATTENDED);
		}
		else {
			arm(stream, grace, () -> end(stream, Ending.of(FinishReason.CLIENT_DISCONNECTED), Guard.UNATTENDED));
		}
	}

	private void arm(ManagedStream stream, Duration delay, Runnable action) {
		Disposable timer = schedule(delay, action);
		if (!stream.arm(timer)) {
			timer.dispose();
		}
	}

}
