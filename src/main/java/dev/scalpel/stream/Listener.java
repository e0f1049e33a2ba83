package dev.scalpel.stream;

import java.util.List;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

import io.netty.util.concurrent.EventExecutor;
import io.netty.util.internal.ThreadExecutorMap;
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
 *
 * <p>It emits batches: each drain hands its reader everything the log holds for it (up to
 * {@link #BATCH} events) as one item, which a front door writes as one buffer. Tokens wake it
 * {@linkplain #wakeSoon() at the end of the event loop's turn}, so the tokens of one upstream read
 * leave in one write and one flush (docs/adr/listener-batches.md).
 */
final class Listener {

	private static final int BATCH = 64;

	private final ManagedStream stream;

	private final Consumer<Listener> onLeave;

	private final AtomicInteger wip = new AtomicInteger();

	private final AtomicBoolean connected = new AtomicBoolean();

	private final AtomicBoolean left = new AtomicBoolean();

	/** Whether a drain is scheduled on an event loop ({@link #wakeSoon()}). */
	private final AtomicBoolean wakeScheduled = new AtomicBoolean();

	private final Runnable scheduledDrain = () -> {
		this.wakeScheduled.set(false);
		drain();
	};

	/** Last event id emitted. Only the draining thread touches it. */
	private long cursor;

	private volatile @Nullable FluxSink<Object> sink;

	/** Whether its reader takes batches ({@link #batches()}) rather than single events ({@link #events()}). */
	private volatile boolean batched;

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

	/**
	 * The events of this listener in batches, oldest first, each batch at least one event; demand
	 * counts batches. Subscribe once (to this or {@link #events()}); a second subscriber gets an error.
	 */
	@SuppressWarnings("unchecked")
	Flux<List<StreamEvent>> batches() {
		// No buffer in the sink: emit() sends only what the reader asked for.
		return Flux.create(sink -> {
			this.batched = true;
			connect(sink);
		}, FluxSink.OverflowStrategy.IGNORE).map(batch -> (List<StreamEvent>) batch);
	}

	/** The events of this listener one by one; demand counts events. Subscribe once, as {@link #batches()}. */
	Flux<StreamEvent> events() {
		return Flux.create(this::connect, FluxSink.OverflowStrategy.IGNORE).cast(StreamEvent.class);
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

	private void connect(FluxSink<Object> sink) {
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
		FluxSink<Object> sink = this.sink;
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
		FluxSink<Object> sink = this.sink;
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

	/**
	 * {@link #drain()} once the event loop this runs on has finished its current work (the rest of an
	 * upstream read, other channels' reads), once however many times it is called until then; at once
	 * off an event loop. What Netty's {@code FlushConsolidationHandler} does for flushes, one level up:
	 * the events appended in one turn leave as one batch, and a lone token waits only for that turn.
	 */
	void wakeSoon() {
		// Netty's own record of the executor running this thread: no public API says it.
		EventExecutor loop = ThreadExecutorMap.currentExecutor();
		if (loop == null) {
			drain();
			return;
		}
		if (this.wakeScheduled.compareAndSet(false, true)) {
			try {
				loop.execute(this.scheduledDrain);
			}
			catch (RejectedExecutionException shuttingDown) {
				this.wakeScheduled.set(false);
				drain();
			}
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
		FluxSink<Object> sink = this.sink;
		if (sink == null) {
			return;
		}
		boolean batched = this.batched;
		while (!this.done && !sink.isCancelled()) {
			long demand = sink.requestedFromDownstream();
			// Read even without demand, to notice when this reader has fallen behind the log.
			int max = (demand <= 0) ? 0 : batched ? BATCH : (int) Math.min(demand, BATCH);
			List<StreamEvent> events = this.stream.read(this.cursor, max);
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
			int terminal = terminalIndex(events);
			List<StreamEvent> emitted = (terminal >= 0) ? events.subList(0, terminal + 1) : events;
			this.cursor = emitted.get(emitted.size() - 1).id();
			if (terminal >= 0) {
				this.done = true;
			}
			if (batched) {
				sink.next(emitted);
			}
			else {
				for (StreamEvent event : emitted) {
					sink.next(event);
				}
			}
			if (terminal >= 0) {
				sink.complete();
				return;
			}
		}
	}

	private static int terminalIndex(List<StreamEvent> events) {
		for (int i = 0; i < events.size(); i++) {
			if (events.get(i).terminal()) {
				return i;
			}
		}
		return -1;
	}

}
