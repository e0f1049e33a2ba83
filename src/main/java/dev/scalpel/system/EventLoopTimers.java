package dev.scalpel.system;

import java.util.concurrent.TimeUnit;

import io.netty.channel.EventLoopGroup;
import org.jspecify.annotations.Nullable;
import reactor.core.Disposable;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;
import reactor.netty.http.HttpResources;

/**
 * The scheduler of the stream timers (first-token and idle timeouts, the longest generation, attach
 * and disconnect waits, the upstream's finish linger and retry backoff): Reactor Netty's own event
 * loops, the threads that serve the streams, rather than a pool of their own.
 *
 * <p>Why: every stream arms and disarms a few timers. On {@code Schedulers.parallel()} each arming
 * that comes first in its queue wakes that pool's thread, and on a one- or two-core container (one
 * event loop per core, {@code ScalpelApplication}) that thread then takes the core from the event
 * loop in the middle of its work: a cancel or a token waits a scheduler time slice. On the event loop
 * a timer is an entry in the loop's own queue, run between two rounds of I/O. A timer's action (a
 * stream's end) is non-blocking, as everything on an event loop must be. With several loops a timer
 * runs on one of them, in turn.
 *
 * <p>The loops are those of the global HTTP resources, which the server and the WebClient share. They
 * are looked up on each call, not kept: an application context that closes disposes them, and the
 * next one (tests start several in one JVM) gets new ones.
 */
public final class EventLoopTimers implements Scheduler {

	private static final EventLoopTimers INSTANCE = new EventLoopTimers();

	/** The loops the delegate was made for, and the delegate; replaced together. */
	private volatile Delegate delegate = new Delegate(null, Schedulers.immediate());

	private record Delegate(@Nullable EventLoopGroup loops, Scheduler scheduler) {
	}

	private EventLoopTimers() {
	}

	/** The scheduler over the global HTTP resources' event loops. */
	public static Scheduler scheduler() {
		return INSTANCE;
	}

	private Scheduler current() {
		EventLoopGroup loops = HttpResources.get().onServer(true);
		Delegate current = this.delegate;
		if (current.loops() != loops) {
			current = new Delegate(loops, Schedulers.fromExecutorService(loops, "scalpel-timers"));
			this.delegate = current;
		}
		return current.scheduler();
	}

	@Override
	public Disposable schedule(Runnable task) {
		return current().schedule(task);
	}

	@Override
	public Disposable schedule(Runnable task, long delay, TimeUnit unit) {
		return current().schedule(task, delay, unit);
	}

	@Override
	public Disposable schedulePeriodically(Runnable task, long initialDelay, long period, TimeUnit unit) {
		return current().schedulePeriodically(task, initialDelay, period, unit);
	}

	@Override
	public Worker createWorker() {
		return current().createWorker();
	}

	@Override
	public long now(TimeUnit unit) {
		return current().now(unit);
	}

	/** The event loops are not this scheduler's to dispose: Reactor Netty's resources own them. */
	@Override
	public void dispose() {
	}

}
