package dev.scalpel.stream;

import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

import org.jspecify.annotations.Nullable;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.FluxSink;

/**
 * One attached reader of a stream: a cursor into the stream's event log, drained at the reader's
 * own pace (lesson 8: a slow listener never slows the generation or other listeners).
 *
 * <p>Hand-written on {@code Flux.create} rather than a Reactor replay sink because the guarantees
 * are per listener: gapless replay from any retained position followed by live events, delivery
 * only on the reader's demand, and disconnection (not buffering without bound) when the reader
 * falls behind the retained events. The terminal event is the last thing a listener emits, after
 * which it completes: the "last gasp" costs nothing if the reader is gone.
 */
final class Listener {

	private static final int BATCH = 64;

	private final ManagedStream stream;

	private final Consumer<Listener> onLeave;

	private final AtomicInteger wip = new AtomicInteger();

	private final AtomicBoolean connected = new AtomicBoolean();

	private final AtomicBoolean left = new AtomicBoolean();

	/** Last event id emitted. Only the draining thread touches it. */
	private long cursor;

	private volatile @Nullable FluxSink<StreamEvent> sink;

	private volatile boolean done;

	/** Set when the server dropped this listener for falling behind, as opposed to its client leaving. */
	private volatile boolean fellBehind;

	private volatile @Nullable Disposable connectDeadline;

	/** {@link System#nanoTime()} of its creation: a listener of an ended stream is aged from here. */
	private final long createdNanos = System.nanoTime();

	Listener(ManagedStream stream, long after, Consumer<Listener> onLeave) {
		this.stream = stream;
		this.cursor = after;
		this.onLeave = onLeave;
	}

	ManagedStream stream() {
		return this.stream;
	}

	long createdNanos() {
		return this.createdNanos;
	}

	/** Whether the server dropped this listener because it fell behind; its client may come back. */
	boolean fellBehind() {
		return this.fellBehind;
	}

	/** The events of this listener. Subscribe once; a second subscriber gets an error. */
	Flux<StreamEvent> events() {
		// No buffer in the sink: emit() sends only what the reader asked for.
		return Flux.create(this::connect, FluxSink.OverflowStrategy.IGNORE);
	}

	/**
	 * A listener counts as attached from its creation, before its response is subscribed, so that a
	 * stream is never without a listener in between. If nobody subscribes by this deadline, the
	 * listener leaves as if its client had disconnected.
	 */
	void expireUnlessConnected(Disposable deadline) {
		this.connectDeadline = deadline;
		if (this.connected.get()) {
			deadline.dispose();
		}
	}

	/** Called by the deadline: the response was never subscribed. */
	void abandon() {
		if (!this.connected.get()) {
			leave();
		}
	}

	private void connect(FluxSink<StreamEvent> sink) {
		if (!this.connected.compareAndSet(false, true)) {
			sink.error(new IllegalStateException("a listener's events can be subscribed only once"));
			return;
		}
		Disposable deadline = this.connectDeadline;
		if (deadline != null) {
			deadline.dispose();
		}
		if (this.left.get()) {
			sink.complete();
			return;
		}
		this.sink = sink;
		sink.onRequest(n -> drain());
		sink.onDispose(this::leave);
		drain();
	}

	/**
	 * Whether it waits for its reader: connected and not done, with nothing asked for. On an ended
	 * stream that is a client that stopped reading, not a listener the end forgot: the rest of the
	 * stream's events wait in its log for the reader's demand.
	 */
	boolean waitingForReader() {
		FluxSink<StreamEvent> sink = this.sink;
		return sink != null && !this.done && !sink.isCancelled() && sink.requestedFromDownstream() <= 0;
	}

	/**
	 * Drops it as one that fell behind: behind the retained events, or (the leak auditor) a reader
	 * stalled past its slack after the stream ended. Its client may resume.
	 */
	void dropBehind() {
		this.fellBehind = true;
		disconnect();
	}

	/** Disconnects this listener without a terminal event (the leak auditor's reclaim). */
	void disconnect() {
		this.done = true;
		FluxSink<StreamEvent> sink = this.sink;
		if (sink != null) {
			sink.complete();
		}
		else {
			leave();
		}
	}

	private void leave() {
		if (this.left.compareAndSet(false, true)) {
			this.done = true;
			this.onLeave.accept(this);
		}
	}

	/** Emits what the reader has asked for and the log holds; safe from any thread, any number of times. */
	void drain() {
		if (this.wip.getAndIncrement() != 0) {
			return;
		}
		int missed = 1;
		do {
			emit();
			missed = this.wip.addAndGet(-missed);
		}
		while (missed != 0);
	}

	private void emit() {
		FluxSink<StreamEvent> sink = this.sink;
		if (sink == null) {
			return;
		}
		while (!this.done && !sink.isCancelled()) {
			long demand = sink.requestedFromDownstream();
			// Read even without demand, to notice when this reader has fallen behind the log.
			List<StreamEvent> events = this.stream.read(this.cursor, (int) Math.min(Math.max(demand, 1), BATCH));
			if (events == null) {
				// Fell behind the retained events: disconnect; the client may resume with Last-Event-ID.
				dropBehind();
				return;
			}
			if (demand <= 0) {
				return;
			}
			if (events.isEmpty()) {
				if (this.stream.terminal() && this.cursor >= this.stream.lastEventId()) {
					// Resumed after the terminal event: nothing more will come.
					this.done = true;
					sink.complete();
				}
				return;
			}
			for (StreamEvent event : events) {
				this.cursor = event.id();
				sink.next(event);
				if (event.terminal()) {
					this.done = true;
					sink.complete();
					return;
				}
			}
		}
	}

}
