package dev.scalpel.observe;

import java.time.Duration;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutor;

import org.springframework.context.SmartLifecycle;

/**
 * How late the event loops run what is ready for them: {@code scalpel.eventloop.delay}.
 *
 * <p>Every token, cancel and new request of the streams a loop serves waits its turn on that loop, so
 * when the loop is busy (a full core, a garbage collection pause, the JIT compiler taking the core
 * from it) everything on it is late by about as much. Every {@code interval} each loop runs a probe
 * task that was due at a known instant; how late it ran is recorded. It is the one figure that tells
 * an operator whether a replica's latency is its own (this delay is high: add cores or replicas) or
 * comes from elsewhere (the provider, the network).
 *
 * <p>A probe re-arms itself after it ran rather than running at a fixed rate: a loop stalled for a
 * second gives one late probe, not ten that were queued up behind the stall.
 */
public final class EventLoopDelay implements SmartLifecycle {

	private final Supplier<EventLoopGroup> loops;

	private final long intervalNanos;

	private final Timer delay;

	private volatile boolean running;

	/**
	 * @param loops the event loops to probe, looked up when probing starts
	 * @param interval how often each loop is probed
	 * @param registry where {@code scalpel.eventloop.delay} is registered
	 */
	public EventLoopDelay(Supplier<EventLoopGroup> loops, Duration interval, MeterRegistry registry) {
		this.loops = loops;
		this.intervalNanos = interval.toNanos();
		this.delay = StreamMetrics.percentiles(StreamMetrics
			.timer("scalpel.eventloop.delay", "How late an event loop ran a task that was due (a probe, every "
					+ interval.toMillis() + " ms on each loop): what everything on that loop waits")
			.register(registry), registry);
	}

	/** The timer the delays are recorded in. */
	Timer timer() {
		return this.delay;
	}

	@Override
	public void start() {
		this.running = true;
		for (EventExecutor loop : this.loops.get()) {
			arm(loop);
		}
	}

	private void arm(EventExecutor loop) {
		if (!this.running) {
			return;
		}
		long due = System.nanoTime() + this.intervalNanos;
		try {
			loop.schedule(() -> {
				this.delay.record(Math.max(0, System.nanoTime() - due), TimeUnit.NANOSECONDS);
				arm(loop);
			}, this.intervalNanos, TimeUnit.NANOSECONDS);
		}
		catch (RejectedExecutionException shutDown) {
			// The loop is shutting down (the application is closing): nothing left to probe on it.
		}
	}

	@Override
	public void stop() {
		this.running = false;
	}

	@Override
	public boolean isRunning() {
		return this.running;
	}

}
