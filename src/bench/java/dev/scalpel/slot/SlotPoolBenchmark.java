package dev.scalpel.slot;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;

import org.jspecify.annotations.Nullable;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.infra.Blackhole;
import reactor.core.publisher.BaseSubscriber;

/**
 * Throughput of one {@link SlotPool} shared by 1, 2 or 4 threads, each doing acquire-then-release
 * as fast as it can: what the pool costs a stream on its way in and out, and how that cost holds up
 * when many streams start and end at once on the same pool.
 *
 * <p>One operation is one {@link SlotPool#acquire(IntConsumer)} subscribed the way
 * {@code StreamManager} subscribes it (a {@link BaseSubscriber} that requests unbounded and takes the
 * permit in {@code hookOnNext}, with a queue-position listener), waiting until the permit arrives,
 * then {@link Permit#release()}. The {@code capacity} parameter decides which path that is:
 * <ul>
 * <li>{@code 64} (the default {@code scalpel.slots.max}) is uncontended for slots at every thread
 * count: every acquire is granted at once, in the subscribing thread, and the threads compete only
 * for the pool's lock;</li>
 * <li>{@code 1} and {@code 2} are contended as soon as there are more threads than slots: an acquire
 * that finds every slot held joins the queue (and arms its queue-timeout timer on
 * {@code Schedulers.parallel()}, as in production), and it is a release on another thread that
 * hands it the permit, calls its {@code hookOnNext} and tells the waiters behind it their new
 * positions. The waiting thread spins (yielding now and then, the machine may have fewer cores than
 * threads) until its permit arrives: a waiting stream holds no thread in the service, but the
 * benchmark thread must wait to count the operation.</li>
 * </ul>
 * The secondary metric {@code queued} counts the operations that joined the queue, in the same
 * unit as the score: it shows which runs were really contended (zero when capacity covers the
 * threads) and, divided by the score, the fraction of acquires that waited.
 *
 * <p>Read the multi-threaded figures with the machine in mind: they measure threads that really run
 * at once. With as many threads as cores and nothing else running, two threads contend for the
 * pool's monitor on every operation; when other processes load the machine, the threads are
 * time-sliced, mostly run one at a time, and the uncontended-slot figures come out several times
 * higher. The contended ones (capacity below the threads) measure hand-off between threads, so
 * they include waking and scheduling those threads.
 *
 * <p>Honesty checks: every permit is consumed by the {@link Blackhole}; the queue and its timeout
 * are large enough that no acquire is refused or times out (either would fail the run rather than
 * count an operation without a permit); and at the end of each trial the pool must be empty, with
 * no slot held and nobody queued.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class SlotPoolBenchmark {

	/** The default {@code scalpel.queue.max}: far more than the threads, so nobody is refused. */
	private static final int QUEUE_MAX = 256;

	/** Far longer than a run, so no waiter ever times out. */
	private static final Duration QUEUE_TIMEOUT = Duration.ofMinutes(10);

	/**
	 * The single-threaded cost of acquire plus release: the path every stream takes when a slot is
	 * free. One thread never waits whatever the capacity, so it runs at the default capacity only.
	 */
	@Benchmark
	@Threads(1)
	public void oneThread(DefaultPool pool, Waits waits, Blackhole blackhole) {
		acquireAndRelease(pool.pool(), waits, blackhole);
	}

	/** Two threads on one pool: lock contention only at capacity 2 or 64, queueing and hand-off at 1. */
	@Benchmark
	@Threads(2)
	public void twoThreads(Pool pool, Waits waits, Blackhole blackhole) {
		acquireAndRelease(pool.pool(), waits, blackhole);
	}

	/** Four threads on one pool: lock contention only at capacity 64, queueing and hand-off at 1 and 2. */
	@Benchmark
	@Threads(4)
	public void fourThreads(Pool pool, Waits waits, Blackhole blackhole) {
		acquireAndRelease(pool.pool(), waits, blackhole);
	}

	private static void acquireAndRelease(SlotPool pool, Waits waits, Blackhole blackhole) {
		Acquirer acquirer = new Acquirer();
		pool.acquire(acquirer).subscribe(acquirer);
		Permit permit = acquirer.await();
		if (acquirer.queued) {
			waits.queued++;
		}
		blackhole.consume(permit);
		permit.release();
	}

	/** The pool all threads of a trial share, with the capacity of the parameter. */
	@State(Scope.Benchmark)
	public static class Pool {

		/** Slots of the pool: 64 never makes a thread wait, 1 and 2 do once threads outnumber them. */
		@Param({ "64", "2", "1" })
		public int capacity;

		private @Nullable SlotPool pool;

		@Setup(Level.Trial)
		public void createPool() {
			this.pool = new SlotPool(this.capacity, QUEUE_MAX, QUEUE_TIMEOUT);
		}

		@TearDown(Level.Trial)
		public void checkEverySlotCameBack() {
			checkEmpty(pool());
		}

		SlotPool pool() {
			return created(this.pool);
		}

	}

	/** A pool of the default {@code scalpel.slots.max}, 64 slots. */
	@State(Scope.Benchmark)
	public static class DefaultPool {

		private @Nullable SlotPool pool;

		@Setup(Level.Trial)
		public void createPool() {
			this.pool = new SlotPool(64, QUEUE_MAX, QUEUE_TIMEOUT);
		}

		@TearDown(Level.Trial)
		public void checkEverySlotCameBack() {
			checkEmpty(pool());
		}

		SlotPool pool() {
			return created(this.pool);
		}

	}

	private static SlotPool created(@Nullable SlotPool pool) {
		if (pool == null) {
			throw new IllegalStateException("no pool: the trial setup did not run");
		}
		return pool;
	}

	/** Every operation gave its slot back and nobody is left waiting: nothing was lost or skipped. */
	private static void checkEmpty(SlotPool pool) {
		if (pool.inUse() != 0 || pool.queued() != 0 || !pool.held().isEmpty()) {
			throw new IllegalStateException("the pool was left with " + pool.inUse() + " slot(s) held and "
					+ pool.queued() + " waiter(s) queued");
		}
	}

	/** Per-thread count of the operations that had to join the queue, reported as {@code queued}. */
	@State(Scope.Thread)
	@AuxCounters(AuxCounters.Type.OPERATIONS)
	public static class Waits {

		/** Operations whose acquire joined the queue instead of getting a slot at once. */
		public long queued;

		@Setup(Level.Iteration)
		public void reset() {
			this.queued = 0;
		}

	}

	/**
	 * Subscribes to {@link SlotPool#acquire(IntConsumer)} as {@code StreamManager.Acquisition} does: a
	 * {@link BaseSubscriber} (unbounded demand) that takes the permit in {@code hookOnNext}, which runs
	 * in the subscribing thread when a slot is free and in the releasing thread when the permit is
	 * handed on; it is also the position listener, as the manager's listener records the position.
	 */
	private static final class Acquirer extends BaseSubscriber<Permit> implements IntConsumer {

		private volatile @Nullable Permit permit;

		private volatile @Nullable Throwable failure;

		/** Set when the pool told a queue position, i.e. when this acquire joined the queue. */
		volatile boolean queued;

		@Override
		public void accept(int position) {
			this.queued = true;
		}

		@Override
		protected void hookOnNext(Permit value) {
			this.permit = value;
		}

		@Override
		protected void hookOnError(Throwable error) {
			this.failure = error;
		}

		/** Spins until the permit arrives; fails on an error rather than counting an operation without one. */
		Permit await() {
			for (int spins = 1;; spins++) {
				Permit granted = this.permit;
				if (granted != null) {
					return granted;
				}
				Throwable error = this.failure;
				if (error != null) {
					throw new IllegalStateException("acquire failed: " + error, error);
				}
				if ((spins & 63) == 0) {
					// More benchmark threads than cores: let the thread holding the slot run.
					Thread.yield();
				}
				else {
					Thread.onSpinWait();
				}
			}
		}

	}

}
