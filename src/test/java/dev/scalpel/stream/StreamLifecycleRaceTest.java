package dev.scalpel.stream;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.channel.DefaultEventLoopGroup;
import io.netty.channel.EventLoopGroup;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import reactor.core.scheduler.Schedulers;

import dev.scalpel.observe.LeakAuditor;
import dev.scalpel.slot.SlotPool;
import dev.scalpel.stream.Harness.Recorder;
import dev.scalpel.support.Await;
import dev.scalpel.support.FakeChaosTokenSource;
import dev.scalpel.upstream.UpstreamProperties;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Thousands of streams per run, each with a random plan played out at random instants from several
 * threads: completions, injected upstream failures, silent upstreams left to the timeouts, cancels,
 * double cancels, cancels racing completion, listeners that disconnect, deferred starts attached
 * late or never, background streams, and a small slot pool and queue so that streams queue, time
 * out in the queue and are refused. After each run every invariant of ARCHITECTURE.md must hold. Two
 * seeds play it on Netty event loops rather than plain threads.
 */
class StreamLifecycleRaceTest {

	private static final int STREAMS = 2_000;

	private static final Duration BOUND = Duration.ofSeconds(30);

	/** The keys streams are started with: one without limits, two with few streams at once. */
	private static final List<Caller> CALLERS = List.of(new Caller("free", false, Caller.Quota.NONE),
			new Caller("capped-3", false, new Caller.Quota(3, 0)), new Caller("capped-5", false, new Caller.Quota(5, 0)));

	@ParameterizedTest(name = "seed {0}")
	@ValueSource(longs = { 1, 2, 3, 4, 5, 6 })
	void invariantsHoldAfterRandomisedLifecycles(long seed) throws Exception {
		SplittableRandom random = new SplittableRandom(seed);
		SlotPool slots = new SlotPool(6, 12, Duration.ofMillis(150));
		FakeChaosTokenSource upstream = new FakeChaosTokenSource();
		Duration grace = (seed % 2 == 0) ? Duration.ZERO : Duration.ofMillis(5);
		// Seeds 3 and 4 give ended streams little memory (and prompts of 3,000 characters, to weigh), so
		// that the oldest are compacted (events and prompt let go) while the others run, attach, cancel and
		// read statuses; the compacted still fit in their quarter.
		long memory = (seed >= 3) ? 14L << 20 : Harness.streams().retentionBytes();
		String padding = (seed >= 3) ? " " + "p".repeat(3000) : "";
		InMemoryStreamRegistry streams = new InMemoryStreamRegistry(Duration.ofMinutes(10), memory);
		StreamManager manager = Harness.manager(slots, Harness.streams(Duration.ofSeconds(1), grace, 10_000),
				UpstreamProperties.withTimeouts(Duration.ofMillis(80), Duration.ofMillis(40), Duration.ofSeconds(2)),
				Schedulers.parallel(), streams, upstream);
		// Seeds 5 and 6 play the plans on Netty event loops, as the server's handlers run, where a stream
		// makes its upstream call one loop task after it got its slot. On plain threads, which BlockHound
		// (installed once a test in this JVM started the application) leaves to the test's own locks.
		ScheduledExecutorService actors = (seed >= 5) ? new DefaultEventLoopGroup(4, (ThreadFactory) Thread::new)
				: Executors.newScheduledThreadPool(4);
		Map<String, Plan> plans = new ConcurrentHashMap<>();
		AtomicInteger refused = new AtomicInteger();
		AtomicInteger overQuota = new AtomicInteger();
		CountDownLatch played = new CountDownLatch(STREAMS);
		// Watches, while the run goes on, that no capped key ever has more streams not yet ended than its
		// quota. A snapshot is read stream by stream, so a count over the quota is checked again: statuses
		// only move to terminal, so streams still not ended on the second read were all live together.
		java.util.concurrent.atomic.AtomicReference<String> quotaBroken = new java.util.concurrent.atomic.AtomicReference<>();
		ScheduledExecutorService watcher = Executors.newSingleThreadScheduledExecutor();
		watcher.scheduleWithFixedDelay(() -> {
			Map<String, List<String>> live = manager.live().stream()
				.filter(stream -> !StreamStatus.fromWireName(stream.status()).orElseThrow().terminal())
				.collect(java.util.stream.Collectors.groupingBy(StreamManager.LiveStream::owner,
						java.util.stream.Collectors.mapping(StreamManager.LiveStream::id, java.util.stream.Collectors.toList())));
			for (Caller caller : CALLERS) {
				int max = caller.quota().maxConcurrentStreams();
				List<String> ids = live.getOrDefault(caller.owner(), List.of());
				if (max > 0 && ids.size() > max) {
					long still = ids.stream()
						.filter(id -> !StreamStatus.fromWireName(manager.status(id).status()).orElseThrow().terminal())
						.count();
					if (still > max) {
						quotaBroken.compareAndSet(null, caller.owner() + " had " + still + " streams not ended");
					}
				}
			}
		}, 1, 1, TimeUnit.MILLISECONDS);
		try {
			for (int i = 0; i < STREAMS; i++) {
				Plan plan = new Plan(i, random.split(), padding);
				long startDelay = i / 4 + plan.random.nextInt(3);
				actors.schedule(() -> plan.play(manager, actors, plans, refused, overQuota, played), startDelay,
						TimeUnit.MILLISECONDS);
			}
			assertThat(played.await(BOUND.toSeconds(), TimeUnit.SECONDS)).as("every plan started").isTrue();
			try {
				Await.atMost(BOUND).until(() -> manager.liveCount() == 0);
			}
			catch (org.awaitility.core.ConditionTimeoutException ex) {
				throw new AssertionError("streams still live: " + manager.live() + ", slots in use " + slots.inUse()
						+ ", queued " + slots.queued(), ex);
			}
			Await.atMost(BOUND).until(() -> upstream.open() == 0);
			Await.atMost(BOUND).until(() -> plans.values().stream().allMatch(Plan::listenersSettled));
		}
		finally {
			if (actors instanceof EventLoopGroup loops) {
				loops.shutdownGracefully(0, 1, TimeUnit.SECONDS);
			}
			else {
				actors.shutdownNow();
			}
			watcher.shutdownNow();
		}

		assertThat(quotaBroken.get()).as("a key over its quota of streams at once").isNull();
		assertThat(overQuota.get()).as("starts refused for a key's quota").isPositive();
		for (Caller caller : CALLERS) {
			assertThat(manager.quotaLive(caller.owner())).as("quota places still taken by " + caller.owner()).isZero();
		}
		assertThat(slots.inUse()).as("slots held").isZero();
		assertThat(slots.queued()).as("queue").isZero();
		assertThat(plans).as("streams created").hasSize(STREAMS);
		assertThat(refused.get()).as("starts refused while the queue was full").isPositive();
		List<String> statuses = new ArrayList<>();
		for (Plan plan : plans.values()) {
			StreamView view = manager.status(plan.id);
			statuses.add(view.status());
			assertThat(StreamStatus.fromWireName(view.status()).orElseThrow().terminal()).as(plan.id).isTrue();
			if (plan.cancelAnswer != null && plan.cancelAnswer.equals("cancelled")) {
				assertThat(view.status()).as("cancelled stays cancelled").isEqualTo("cancelled");
			}
			for (Recorder stayed : plan.stayed) {
				assertThat(stayed.completed).as("listener of %s finished", plan.id).isTrue();
				assertThat(stayed.terminalEvents()).as("terminal events of %s", plan.id).isEqualTo(1);
				assertThat(stayed.last().type()).isEqualTo("stream." + view.status());
				assertSequential(stayed);
			}
		}
		// The run exercised every ending.
		assertThat(statuses).contains("completed", "failed", "cancelled");
		if (seed >= 3) {
			assertThat(streams.retainedBytes()[1]).as("bytes of compacted streams").isPositive();
		}
		// And the leak auditor, run after it all, finds nothing: every release happened at its event.
		SimpleMeterRegistry registry = new SimpleMeterRegistry();
		LeakAuditor auditor = new LeakAuditor(manager, registry, Duration.ofMillis(1), Schedulers.parallel());
		assertThat(auditor.audit()).isEmpty();
		assertThat(registry.get("scalpel.leaks.reclaimed").counters()).allSatisfy(counter -> assertThat(counter.count()).isZero());
	}

	private static void assertSequential(Recorder recorder) {
		long expected = recorder.events.get(0).id();
		for (StreamEvent event : recorder.events) {
			assertThat(event.id()).isEqualTo(expected++);
		}
	}

	/** What the test does with one stream, drawn at random. */
	private static final class Plan {

		final int index;

		final SplittableRandom random;

		final List<Recorder> stayed = new java.util.concurrent.CopyOnWriteArrayList<>();

		final List<Recorder> all = new java.util.concurrent.CopyOnWriteArrayList<>();

		volatile String id;

		volatile String cancelAnswer;

		private final String padding;

		Plan(int index, SplittableRandom random, String padding) {
			this.index = index;
			this.padding = padding;
			this.random = random;
		}

		void play(StreamManager manager, ScheduledExecutorService actors, Map<String, Plan> plans,
				AtomicInteger refused, AtomicInteger overQuota, CountDownLatch played) {
			int mode = this.random.nextInt(10);
			boolean background = mode == 9;
			boolean listen = mode < 7 || (background && this.random.nextBoolean());
			StartStreamRequest request = new StartStreamRequest(FakeChaosTokenSource.MODEL, null,
					"plan " + this.index + " " + this.random.nextLong() + this.padding, null, null, background, null);
			StreamManager.Started started;
			try {
				started = manager.start(CALLERS.get(this.index % CALLERS.size()), request, listen);
			}
			catch (Overloaded | QuotaExceeded ex) {
				// A 429: nothing was created; the client retries a little later, as clients do.
				((ex instanceof Overloaded) ? refused : overQuota).incrementAndGet();
				actors.schedule(() -> play(manager, actors, plans, refused, overQuota, played),
						1 + this.random.nextInt(5), TimeUnit.MILLISECONDS);
				return;
			}
			played.countDown();
			this.id = started.view().id();
			plans.put(this.id, this);
			if (started.listener() != null) {
				listen(started.listener(), actors);
			}
			else if (!background && this.random.nextInt(4) > 0) {
				// A deferred start: attach later, sometimes after the attach timeout (which is long enough that
				// a listener is always subscribed before its connect deadline, even on a loaded machine).
				actors.schedule(() -> attachLate(manager, actors), this.random.nextInt(1300), TimeUnit.MILLISECONDS);
			}
			if (this.random.nextInt(3) == 0) {
				int cancels = 1 + this.random.nextInt(2);
				for (int i = 0; i < cancels; i++) {
					actors.schedule(() -> cancel(manager), this.random.nextInt(60), TimeUnit.MILLISECONDS);
				}
			}
			if (this.random.nextInt(8) == 0) {
				// A late joiner replaying from a random position.
				actors.schedule(() -> attachLate(manager, actors), this.random.nextInt(80), TimeUnit.MILLISECONDS);
			}
		}

		private void attachLate(StreamManager manager, ScheduledExecutorService actors) {
			try {
				listen(manager.attach(this.id, 0), actors);
			}
			catch (Overloaded ex) {
				// The queue was full when it tried: the stream goes on waiting and meets its attach timeout.
			}
			catch (EventsExpired ex) {
				// Ended and compacted (seeds with a small retention memory) before this late attach: 410.
			}
		}

		private void listen(Listener listener, ScheduledExecutorService actors) {
			Recorder recorder = Recorder.reading(listener);
			this.all.add(recorder);
			if (this.random.nextInt(4) == 0) {
				actors.schedule(recorder::dispose, this.random.nextInt(50), TimeUnit.MILLISECONDS);
			}
			else {
				this.stayed.add(recorder);
			}
		}

		private void cancel(StreamManager manager) {
			StreamView view = manager.cancel(this.id);
			if (this.cancelAnswer == null || view.status().equals("cancelled")) {
				this.cancelAnswer = view.status();
			}
		}

		boolean listenersSettled() {
			return this.stayed.stream().allMatch(recorder -> recorder.completed);
		}

	}

}
