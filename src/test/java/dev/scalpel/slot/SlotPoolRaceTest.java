package dev.scalpel.slot;

import java.time.Duration;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Predicate;
import java.util.stream.LongStream;

import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.reactivestreams.Subscription;
import reactor.core.publisher.BaseSubscriber;
import reactor.core.scheduler.Schedulers;
import reactor.test.scheduler.VirtualTimeScheduler;
import reactor.test.subscriber.TestSubscriber;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Proves that {@link SlotPool} keeps its books under concurrency: with many threads acquiring,
 * cancelling at random instants, releasing (sometimes twice, sometimes racing themselves) and
 * waiters timing out for real, no slot is ever lost or handed out twice, no more permits are held at
 * once than there are slots, every subscriber ends with a permit, {@link QueueFull} (synchronously),
 * {@link QueueTimeout} or its own cancellation, and the pool ends empty. Focused races pin the
 * hand-over of a freed slot: a grant racing the head waiter's cancellation, a grant racing its queue
 * timeout (virtual time advanced on a racing thread, for alignment), and a release near the instant a
 * real timer expires the head.
 *
 * <p>Runs are randomised from fixed seeds (shown in the test name) so a failing run can be replayed;
 * the thread interleavings still vary from run to run.
 */
class SlotPoolRaceTest {

	private static final Duration SETTLE = Duration.ofSeconds(10);

	private static final Duration POLL = Duration.ofMillis(1);

	private static final int THREADS = 4;

	private static final int ACQUISITIONS_PER_THREAD = 40;

	private static final Map<String, AtomicLong> outcomes = new ConcurrentHashMap<>();

	static LongStream mixedSeeds() {
		return LongStream.rangeClosed(1, 200);
	}

	static LongStream cancellationSeeds() {
		return LongStream.rangeClosed(1_001, 1_100);
	}

	static LongStream timeoutSeeds() {
		return LongStream.rangeClosed(2_001, 2_100);
	}

	static LongStream realTimerSeeds() {
		return LongStream.rangeClosed(3_001, 3_040);
	}

	@ParameterizedTest(name = "seed {0}")
	@MethodSource("mixedSeeds")
	@Timeout(value = 15, unit = TimeUnit.SECONDS)
	void randomAcquiresCancelsReleasesAndTimeoutsLeaveEverySlotFreeAndEverySubscriberSettled(long seed)
			throws InterruptedException {
		Random random = new Random(seed);
		int capacity = 1 + random.nextInt(4);
		int queueMax = random.nextInt(9);
		Duration queueTimeout = Duration.ofNanos(200_000 + random.nextInt(1_800_000));
		Run run = new Run(new SlotPool(capacity, queueMax, queueTimeout));
		CountDownLatch start = new CountDownLatch(1);
		List<Thread> workers = new ArrayList<>();
		for (int i = 0; i < THREADS; i++) {
			Random own = new Random(random.nextLong());
			Thread worker = new Thread(() -> run.work(own, start), "slot-race-" + seed + "-" + i);
			worker.start();
			workers.add(worker);
		}

		start.countDown();
		for (Thread worker : workers) {
			worker.join(SETTLE.toMillis());
			assertThat(worker.isAlive()).as("%s finished", worker.getName()).isFalse();
		}
		// Waiters still queued once the workers are done get a slot or time out within milliseconds;
		// permits parked for a worker are given back here meanwhile.
		await().atMost(SETTLE).pollInSameThread().pollDelay(Duration.ZERO).pollInterval(POLL)
			.until(run::settled);

		assertThat(run.violations).isEmpty();
		assertThat(run.pool.inUse()).isZero();
		assertThat(run.pool.queued()).isZero();
		assertThat(run.pool.full()).isFalse();
		assertThat(run.highWater.get()).isLessThanOrEqualTo(capacity);
		assertThat(run.acquisitions).hasSize(THREADS * ACQUISITIONS_PER_THREAD);
		assertThat(run.acquisitions).allSatisfy(Acquisition::assertSettled);
		assertThat(distinctPermits(run)).isEqualTo(run.outcome(Acquisition::granted));
		count("mixed runs", 1);
		count("mixed granted", run.outcome(Acquisition::granted));
		count("mixed queue full", run.outcome((each) -> each.error.get() instanceof QueueFull));
		count("mixed queue timeout", run.outcome((each) -> each.error.get() instanceof QueueTimeout));
		count("mixed cancelled before a signal", run.outcome(Acquisition::cancelledBeforeASignal));
	}

	@ParameterizedTest(name = "seed {0}")
	@MethodSource("cancellationSeeds")
	@Timeout(value = 15, unit = TimeUnit.SECONDS)
	void aGrantRacingTheHeadWaitersCancellationHasExactlyOneOwner(long seed) throws Exception {
		Random random = new Random(seed);
		SlotPool pool = new SlotPool(1, 2, Duration.ofMinutes(1));
		ExecutorService racers = Executors.newFixedThreadPool(2);
		try {
			for (int round = 0; round < 100; round++) {
				Permit held = subscribe(pool, true).getReceivedOnNext().get(0);
				// A head without demand has its grant parked in the sink: cancelling must give it back.
				TestSubscriber<Permit> head = subscribe(pool, random.nextInt(4) != 0);
				@Nullable TestSubscriber<Permit> behind = random.nextBoolean() ? subscribe(pool, true) : null;

				race(racers, random, held::release, head::cancel);

				assertThat(head.isTerminatedError()).isFalse();
				assertTheFreedSlotHasOneOwner(pool, head, behind);
				count(owns(head) ? "cancellation race: head kept the permit" : "cancellation race: head left", 1);
				cleanUp(pool, head, behind);
			}
		}
		finally {
			racers.shutdownNow();
		}
	}

	@ParameterizedTest(name = "seed {0}")
	@MethodSource("timeoutSeeds")
	@Timeout(value = 15, unit = TimeUnit.SECONDS)
	void aGrantRacingTheHeadWaitersQueueTimeoutHasExactlyOneWinner(long seed) throws Exception {
		Random random = new Random(seed);
		// Virtual time advanced on a racing thread: the expiry runs there, aligned with the release to
		// within a microsecond, which a real timer's jitter would not allow.
		VirtualTimeScheduler timer = VirtualTimeScheduler.create();
		Duration queueTimeout = Duration.ofSeconds(1);
		SlotPool pool = new SlotPool(1, 2, queueTimeout, timer);
		ExecutorService racers = Executors.newFixedThreadPool(2);
		try {
			for (int round = 0; round < 100; round++) {
				Permit held = subscribe(pool, true).getReceivedOnNext().get(0);
				TestSubscriber<Permit> head = subscribe(pool, true);
				// Joins later, so the advance below expires the head only.
				timer.advanceTimeBy(Duration.ofMillis(1));
				@Nullable TestSubscriber<Permit> behind = random.nextBoolean() ? subscribe(pool, true) : null;

				race(racers, random, held::release, () -> timer.advanceTimeBy(queueTimeout.minusMillis(1)));

				assertThat(head.isTerminated()).isTrue();
				assertThat(head.isTerminatedComplete()).isEqualTo(owns(head));
				if (!owns(head)) {
					assertThat(head.expectTerminalError()).isInstanceOf(QueueTimeout.class);
				}
				assertTheFreedSlotHasOneOwner(pool, head, behind);
				count(owns(head) ? "timeout race: head granted" : "timeout race: head timed out", 1);
				cleanUp(pool, head, behind);
			}
		}
		finally {
			racers.shutdownNow();
			timer.dispose();
		}
	}

	@ParameterizedTest(name = "seed {0}")
	@MethodSource("realTimerSeeds")
	@Timeout(value = 15, unit = TimeUnit.SECONDS)
	void aReleaseAroundTheInstantARealQueueTimeoutFiresNeverLosesTheSlot(long seed) {
		Random random = new Random(seed);
		Duration queueTimeout = Duration.ofMillis(1 + random.nextInt(2));
		SlotPool pool = new SlotPool(1, 2, queueTimeout);
		for (int round = 0; round < 20; round++) {
			Permit held = subscribe(pool, true).getReceivedOnNext().get(0);
			long joined = System.nanoTime();
			TestSubscriber<Permit> head = subscribe(pool, true);
			@Nullable TestSubscriber<Permit> behind = random.nextBoolean() ? subscribe(pool, true) : null;
			// Around the instant the head's timer fires on a parallel thread: sometimes before, sometimes after.
			long releaseAt = joined + queueTimeout.toNanos() + random.nextInt(1_000_000) - 300_000;

			spinUntil(releaseAt);
			held.release();
			await().atMost(SETTLE).pollInSameThread().pollDelay(Duration.ZERO).pollInterval(POLL)
				.until(() -> head.isTerminated() && (behind == null || behind.isTerminated()));

			assertThat(head.getProtocolErrors()).isEmpty();
			assertThat(head.isTerminatedComplete()).isEqualTo(owns(head));
			if (!owns(head)) {
				assertThat(head.expectTerminalError()).isInstanceOf(QueueTimeout.class);
			}
			if (behind != null) {
				assertThat(behind.getProtocolErrors()).isEmpty();
			}
			int owners = (owns(head) ? 1 : 0) + ((behind != null && owns(behind)) ? 1 : 0);
			assertThat(pool.inUse()).isEqualTo(owners);
			cleanUp(pool, head, behind);
		}
	}

	/**
	 * Guards against a vacuous pass: across all runs of a test, every outcome it races for happened
	 * at least once. (The real-timer test is left out: on a loaded machine its timer may always fire
	 * late, which proves nothing wrong.)
	 */
	@AfterAll
	static void everyRacedOutcomeHappened() {
		if (outcomes.containsKey("mixed runs")) {
			assertThat(outcomes).containsKeys("mixed granted", "mixed queue full", "mixed queue timeout",
					"mixed cancelled before a signal");
		}
		if (outcomes.keySet().stream().anyMatch((key) -> key.startsWith("cancellation race"))) {
			assertThat(outcomes).containsKeys("cancellation race: head kept the permit",
					"cancellation race: head left");
		}
		if (outcomes.keySet().stream().anyMatch((key) -> key.startsWith("timeout race"))) {
			assertThat(outcomes).containsKeys("timeout race: head granted", "timeout race: head timed out");
		}
	}

	private static void count(String outcome, long times) {
		if (times > 0) {
			outcomes.computeIfAbsent(outcome, (key) -> new AtomicLong()).addAndGet(times);
		}
	}

	private static long distinctPermits(Run run) {
		Map<Permit, Boolean> seen = new IdentityHashMap<>();
		for (Acquisition each : run.acquisitions) {
			Permit permit = each.permit.get();
			if (permit != null) {
				seen.put(permit, true);
			}
		}
		return seen.size();
	}

	private static TestSubscriber<Permit> subscribe(SlotPool pool, boolean eager) {
		TestSubscriber<Permit> subscriber = eager ? TestSubscriber.create()
				: TestSubscriber.builder().initialRequest(0).build();
		pool.acquire().subscribe(subscriber);
		return subscriber;
	}

	/**
	 * Runs the two calls on two threads at nearly the same instant, each after its own random delay
	 * of up to 2 µs, and waits (bounded) for both to return.
	 */
	private static void race(ExecutorService racers, Random random, Runnable one, Runnable other)
			throws Exception {
		// The racer that reaches the start line last leaves it first; a random order keeps either
		// call from winning by position alone.
		boolean swap = random.nextBoolean();
		Runnable first = swap ? other : one;
		Runnable second = swap ? one : other;
		int firstDelay = random.nextInt(2_000);
		int secondDelay = random.nextInt(2_000);
		// A start line the racers poll rather than a latch: waking parked threads spreads the two
		// calls microseconds apart, much wider than the window in which they collide.
		AtomicInteger arrived = new AtomicInteger();
		Future<?> firstDone = racers.submit(() -> {
			startTogether(arrived, 2);
			spin(firstDelay);
			first.run();
		});
		Future<?> secondDone = racers.submit(() -> {
			startTogether(arrived, 2);
			spin(secondDelay);
			second.run();
		});
		firstDone.get(SETTLE.toMillis(), TimeUnit.MILLISECONDS);
		secondDone.get(SETTLE.toMillis(), TimeUnit.MILLISECONDS);
	}

	/**
	 * The slot freed while the head was leaving went to exactly one place: the head (then the waiter
	 * behind still waits), else the waiter behind, else back to the pool.
	 */
	private static void assertTheFreedSlotHasOneOwner(SlotPool pool, TestSubscriber<Permit> head,
			@Nullable TestSubscriber<Permit> behind) {
		assertThat(head.getReceivedOnNext()).hasSizeLessThanOrEqualTo(1);
		if (behind == null) {
			assertThat(pool.inUse()).isEqualTo(owns(head) ? 1 : 0);
			assertThat(pool.queued()).isZero();
		}
		else {
			assertThat(behind.getReceivedOnNext()).hasSize(owns(head) ? 0 : 1);
			assertThat(pool.inUse()).isEqualTo(1);
			assertThat(pool.queued()).isEqualTo(owns(head) ? 1 : 0);
		}
	}

	private static boolean owns(TestSubscriber<Permit> subscriber) {
		return !subscriber.getReceivedOnNext().isEmpty();
	}

	/** Ends the round: whoever holds a permit releases it, whoever waits leaves, the pool is empty. */
	private static void cleanUp(SlotPool pool, TestSubscriber<Permit> head, @Nullable TestSubscriber<Permit> behind) {
		head.getReceivedOnNext().forEach(Permit::release);
		if (behind != null) {
			behind.cancel();
			behind.getReceivedOnNext().forEach(Permit::release);
		}
		assertThat(pool.inUse()).isZero();
		assertThat(pool.queued()).isZero();
	}

	/** Waits for the other racers without parking; yields so a racer is not starved on few cores. */
	private static void startTogether(AtomicInteger arrived, int parties) {
		arrived.incrementAndGet();
		while (arrived.get() < parties) {
			Thread.yield();
		}
	}

	/** Busy-waits; only ever called on the test's own threads, never on a Reactor thread. */
	private static void spin(long nanos) {
		spinUntil(System.nanoTime() + nanos);
	}

	private static void spinUntil(long deadline) {
		while (System.nanoTime() - deadline < 0) {
			Thread.onSpinWait();
		}
	}

	/** One randomised run of the mixed test: the pool and the books the test keeps on it. */
	private static final class Run {

		final SlotPool pool;

		/** Permits that reached a subscriber and that the test has not given back yet. */
		final AtomicInteger holding = new AtomicInteger();

		final AtomicInteger highWater = new AtomicInteger();

		/** Cancellations and releases the test scheduled on Reactor threads and that have not returned. */
		final AtomicInteger inFlight = new AtomicInteger();

		/** Permits waiting for a worker (or, at the end, the test thread) to give them back. */
		final Queue<Acquisition> parked = new ConcurrentLinkedQueue<>();

		final Queue<Acquisition> acquisitions = new ConcurrentLinkedQueue<>();

		final Queue<String> violations = new ConcurrentLinkedQueue<>();

		Run(SlotPool pool) {
			this.pool = pool;
		}

		void work(Random random, CountDownLatch start) {
			try {
				start.await();
				for (int i = 0; i < ACQUISITIONS_PER_THREAD; i++) {
					acquireOnce(random);
					while (random.nextInt(3) != 0) {
						Acquisition next = this.parked.poll();
						if (next == null) {
							break;
						}
						next.giveBack(false);
					}
					spin(random.nextInt(60_000));
					checkBounds();
				}
			}
			catch (Throwable ex) {
				violation("worker failed: " + ex);
			}
		}

		private void acquireOnce(Random random) {
			Acquisition acquisition = new Acquisition(this, random);
			this.acquisitions.add(acquisition);
			this.pool.acquire(acquisition::position).subscribe(acquisition);
			acquisition.subscribeReturned = true;
			int cancel = random.nextInt(10);
			if (cancel == 0) {
				acquisition.cancelByTest();
			}
			else if (cancel <= 2) {
				later(acquisition::cancelByTest, random.nextInt(3_000));
			}
			if (acquisition.lazy && cancel != 0) {
				spin(random.nextInt(5_000));
				acquisition.request(1);
			}
			if (cancel == 3 || cancel == 4) {
				spin(random.nextInt(20_000));
				acquisition.cancelByTest();
			}
		}

		/** Runs the task on a Reactor thread after the given delay, and counts it until it returns. */
		void later(Runnable task, long delayMicros) {
			this.inFlight.incrementAndGet();
			Schedulers.parallel().schedule(() -> {
				try {
					task.run();
				}
				catch (Throwable ex) {
					violation("task on " + Thread.currentThread().getName() + " failed: " + ex);
				}
				finally {
					this.inFlight.decrementAndGet();
				}
			}, delayMicros, TimeUnit.MICROSECONDS);
		}

		void checkBounds() {
			int inUse = this.pool.inUse();
			int queued = this.pool.queued();
			if (inUse < 0 || inUse > this.pool.capacity()) {
				violation("inUse out of bounds: " + inUse);
			}
			if (queued < 0 || queued > this.pool.queueMax()) {
				violation("queued out of bounds: " + queued);
			}
		}

		/** Gives back parked permits, then says whether nothing is left to happen. */
		boolean settled() {
			for (Acquisition next = this.parked.poll(); next != null; next = this.parked.poll()) {
				next.giveBack(false);
			}
			return this.inFlight.get() == 0 && this.acquisitions.stream().allMatch(Acquisition::settled);
		}

		long outcome(Predicate<Acquisition> which) {
			return this.acquisitions.stream().filter(which).count();
		}

		void violation(String description) {
			this.violations.add(description);
		}

	}

	/** One subscription to {@link SlotPool#acquire}, with its randomly drawn plan and what it got. */
	private static final class Acquisition extends BaseSubscriber<Permit> {

		private final Run run;

		/** Requests only when the worker says so, leaving a grant parked in the sink meanwhile. */
		final boolean lazy;

		private final int giveBack;

		private final boolean twice;

		private final boolean secondLater;

		private final int delayMicros;

		private final Thread subscribingThread = Thread.currentThread();

		volatile boolean subscribeReturned;

		volatile boolean cancelledByTest;

		final AtomicReference<@Nullable Permit> permit = new AtomicReference<>();

		final AtomicReference<@Nullable Throwable> error = new AtomicReference<>();

		private final AtomicBoolean givenBack = new AtomicBoolean();

		private final AtomicInteger positions = new AtomicInteger();

		Acquisition(Run run, Random random) {
			this.run = run;
			this.lazy = random.nextInt(10) < 3;
			this.giveBack = random.nextInt(4);
			this.twice = random.nextInt(10) < 3;
			this.secondLater = random.nextBoolean();
			this.delayMicros = random.nextInt(2_000);
		}

		void position(int position) {
			this.positions.incrementAndGet();
			if (position < 1 || position > this.run.pool.queueMax()) {
				this.run.violation("position " + position + " outside 1.." + this.run.pool.queueMax());
			}
		}

		@Override
		protected void hookOnSubscribe(Subscription subscription) {
			if (!this.lazy) {
				subscription.request(1);
			}
		}

		@Override
		protected void hookOnNext(Permit value) {
			if (!this.permit.compareAndSet(null, value)) {
				this.run.violation("a second permit reached one subscriber");
				return;
			}
			if (value.released()) {
				this.run.violation("a released permit reached a subscriber");
			}
			int holding = this.run.holding.incrementAndGet();
			this.run.highWater.accumulateAndGet(holding, Math::max);
			switch (this.giveBack) {
				// Released inside onNext: the pool hands the slot on while still delivering this one.
				case 0 -> giveBack(false);
				case 1 -> giveBack(true);
				default -> this.run.parked.add(this);
			}
		}

		@Override
		protected void hookOnError(Throwable failure) {
			if (!this.error.compareAndSet(null, failure)) {
				this.run.violation("a second error reached one subscriber: " + failure);
			}
			if (failure instanceof QueueFull) {
				if (this.subscribeReturned || Thread.currentThread() != this.subscribingThread) {
					this.run.violation("QueueFull arrived after subscribe() returned");
				}
			}
			else if (failure instanceof QueueTimeout) {
				if (this.positions.get() == 0) {
					this.run.violation("QueueTimeout for a request that never joined the queue");
				}
			}
			else {
				this.run.violation("unexpected error: " + failure);
			}
		}

		void cancelByTest() {
			cancel();
			this.cancelledByTest = true;
		}

		/**
		 * The test's one release of this permit: booked first, so the slot it frees can never be
		 * counted twice, then {@code release()} once or twice, here or on a Reactor thread, the two
		 * calls sometimes racing each other.
		 */
		void giveBack(boolean later) {
			if (!this.givenBack.compareAndSet(false, true)) {
				this.run.violation("the test gave one permit back twice");
				return;
			}
			this.run.holding.decrementAndGet();
			Permit held = this.permit.get();
			if (later) {
				this.run.later(held::release, this.delayMicros);
			}
			else {
				held.release();
			}
			if (this.twice) {
				if (this.secondLater) {
					this.run.later(held::release, this.delayMicros / 2);
				}
				else {
					held.release();
				}
			}
		}

		boolean granted() {
			return this.permit.get() != null;
		}

		boolean cancelledBeforeASignal() {
			return this.cancelledByTest && this.permit.get() == null && this.error.get() == null;
		}

		boolean settled() {
			boolean signalled = this.permit.get() != null || this.error.get() != null || this.cancelledByTest;
			return signalled && (this.permit.get() == null || this.givenBack.get());
		}

		void assertSettled() {
			assertThat(settled()).as("got a permit, QueueFull, QueueTimeout or was cancelled").isTrue();
			assertThat(granted() && this.error.get() != null).as("both a permit and an error").isFalse();
			if (granted()) {
				assertThat(this.givenBack.get()).as("permit given back by the test").isTrue();
				assertThat(this.permit.get().released()).as("permit released").isTrue();
			}
			if (this.error.get() instanceof QueueFull) {
				assertThat(this.positions.get()).as("positions heard by a refused request").isZero();
			}
		}

	}

}
