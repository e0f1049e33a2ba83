package dev.scalpel.stream;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Flux;
import reactor.core.scheduler.Schedulers;

import dev.scalpel.observe.LeakAuditor;
import dev.scalpel.slot.Permit;
import dev.scalpel.slot.SlotPool;
import dev.scalpel.stream.Harness.Recorder;
import dev.scalpel.support.Await;
import dev.scalpel.support.FakeStuckTimers;
import dev.scalpel.upstream.Chunk;
import dev.scalpel.support.FakeControlledTokenSource;
import dev.scalpel.support.FakeControlledTokenSource.Call;
import dev.scalpel.upstream.GenerationRequest;
import dev.scalpel.upstream.TokenSource;
import dev.scalpel.upstream.UpstreamProperties;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The leak auditor finds each kind of leak it checks, reclaims it, logs it and counts it. Every leak is
 * made by wiring components into a broken state here (a slot taken and forgotten, timers that never
 * fire, a listener that never reads), never through a backdoor in main code; and normal operation
 * gives it nothing to find.
 */
class LeakAuditTest {

	private static final Duration SLACK = Duration.ofMillis(50);

	private static final Duration ENDING_SLACK = Duration.ofSeconds(1);

	private static final Duration WAIT = Duration.ofSeconds(5);

	private final FakeControlledTokenSource upstream = new FakeControlledTokenSource();

	private final SlotPool slots = new SlotPool(4, 4, Duration.ofSeconds(30));

	private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

	@Test
	void aSlotHeldByNoStreamIsReclaimed() throws Exception {
		StreamManager manager = Harness.manager(this.slots, Harness.streams(), Harness.upstream(), this.upstream);
		LeakAuditor auditor = auditor(manager);
		Permit forgotten = this.slots.acquire().block(WAIT);
		StreamManager.Started running = manager.start(Harness.prompt("controlled", "hi"), true);
		Recorder.reading(running.listener());
		this.upstream.nextCall(WAIT);
		Await.atMost(WAIT).during(SLACK.multipliedBy(2)).until(() -> true);

		List<LeakAudit.Leak> leaks = auditor.audit();
		assertThat(leaks).extracting(LeakAudit.Leak::resource).containsExactly("slot");
		assertThat(forgotten.released()).isTrue();
		assertThat(this.slots.inUse()).as("the running stream keeps its slot").isEqualTo(1);
		assertThat(reclaimed("slot")).isEqualTo(1);
		manager.cancel(running.view().id());
		assertThat(this.slots.inUse()).isZero();
	}

	/**
	 * Found by the {@code churn} benchmark on a slow machine: an end closes the upstream call first and
	 * frees the slot after; an audit that ran in between reclaimed the slot, held longer than the slack,
	 * as held by no stream, and counted a leak that was none. (A slack of a second here: the audit must
	 * come within it of the end.)
	 */
	@Test
	void aSlotBeingFreedByTheEndOfItsStreamIsNotALeak() throws Exception {
		FakeSlowToCloseTokenSource upstream = new FakeSlowToCloseTokenSource();
		StreamManager manager = Harness.manager(this.slots, Harness.streams(), Harness.upstream(), upstream);
		LeakAuditor auditor = new LeakAuditor(manager, this.registry, ENDING_SLACK, Schedulers.parallel());
		String id = running(manager, ENDING_SLACK);
		whileItsEndCloses(manager, id, upstream, () -> {
			assertThat(manager.status(id).status()).isEqualTo("cancelled");
			assertThat(this.slots.inUse()).as("freed once the upstream call is closed").isEqualTo(1);

			assertThat(auditor.audit()).isEmpty();
			assertThat(this.slots.inUse()).isEqualTo(1);
		});
		assertThat(this.slots.inUse()).isZero();
		assertThat(auditor.audit()).isEmpty();
		assertThat(reclaimed("slot")).isZero();
	}

	/**
	 * The same slot, still not freed longer than the slack after its stream ended, is a leak; and its
	 * listener, which gets the terminal event only once the end is done, is still attached.
	 */
	@Test
	void aSlotNotFreedWithinTheSlackAfterItsStreamEndedIsReclaimed() throws Exception {
		FakeSlowToCloseTokenSource upstream = new FakeSlowToCloseTokenSource();
		StreamManager manager = Harness.manager(this.slots, Harness.streams(), Harness.upstream(), upstream);
		LeakAuditor auditor = auditor(manager);
		String id = running(manager, SLACK);
		whileItsEndCloses(manager, id, upstream, () -> {
			Await.atMost(WAIT).during(SLACK.multipliedBy(2)).until(() -> true);

			assertThat(auditor.audit()).containsExactlyInAnyOrder(
					new LeakAudit.Leak("slot", id, "slot not freed after the stream ended"),
					new LeakAudit.Leak("listener", id, "listener still attached after the terminal event"));
			assertThat(this.slots.inUse()).isZero();
			assertThat(reclaimed("slot")).isEqualTo(1);
		});
		// The end frees it too when its close returns: still free, not freed twice.
		assertThat(this.slots.inUse()).isZero();
		assertThat(auditor.audit()).isEmpty();
	}

	/** Starts a stream on the slow-to-close source and waits until it has held its slot past the slack. */
	private String running(StreamManager manager, Duration slack) {
		StreamManager.Started started = manager.start(Harness.prompt(FakeSlowToCloseTokenSource.MODEL, "hi"), true);
		Recorder.reading(started.listener());
		String id = started.view().id();
		Await.atMost(WAIT).until(() -> "in_progress".equals(manager.status(id).status()));
		Await.atMost(WAIT).during(slack.plus(SLACK)).until(() -> true);
		return id;
	}

	/**
	 * Cancels the stream on a thread of its own and runs {@code check} while that cancel is inside the
	 * end, closing the upstream call; then lets the close finish and waits for the cancel to return.
	 */
	private static void whileItsEndCloses(StreamManager manager, String id, FakeSlowToCloseTokenSource upstream,
			Runnable check) throws InterruptedException {
		Thread cancel = new Thread(() -> manager.cancel(id));
		cancel.start();
		try {
			assertThat(upstream.closing.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
			check.run();
		}
		finally {
			upstream.close.countDown();
			cancel.join(WAIT.toMillis());
		}
	}

	/** An upstream whose calls never answer and take until {@link #close} to close when cancelled. */
	private static final class FakeSlowToCloseTokenSource implements TokenSource {

		static final String MODEL = "slow-to-close";

		final CountDownLatch closing = new CountDownLatch(1);

		final CountDownLatch close = new CountDownLatch(1);

		@Override
		public String name() {
			return "slow";
		}

		@Override
		public Set<String> models() {
			return Set.of(MODEL);
		}

		@Override
		public Flux<Chunk> generate(GenerationRequest request) {
			return Flux.<Chunk>never().doOnCancel(() -> {
				this.closing.countDown();
				try {
					this.close.await(WAIT.toMillis(), TimeUnit.MILLISECONDS);
				}
				catch (InterruptedException ex) {
					Thread.currentThread().interrupt();
				}
			});
		}

	}

	@Test
	void aStreamInProgressPastTheMaxDurationIsEnded() {
		StreamManager manager = Harness.manager(this.slots, Harness.streams(),
				UpstreamProperties.withTimeouts(Duration.ofSeconds(60), Duration.ofSeconds(30), Duration.ofMillis(20)),
				new FakeStuckTimers(), this.upstream);
		LeakAuditor auditor = auditor(manager);
		StreamManager.Started started = manager.start(Harness.prompt("controlled", "hi"), true);
		Recorder listener = Recorder.reading(started.listener());
		Call call = this.upstream.nextCall(WAIT);
		Await.atMost(WAIT).during(Duration.ofMillis(120)).until(() -> true);
		assertThat(manager.status(started.view().id()).status()).as("its deadline never fired").isEqualTo("in_progress");

		assertThat(auditor.audit()).extracting(LeakAudit.Leak::resource).containsExactly("stream");
		StreamView view = manager.status(started.view().id());
		assertThat(view.finishReason()).isEqualTo("timeout");
		assertThat(call.cancelled()).isTrue();
		assertThat(this.slots.inUse()).isZero();
		Await.atMost(WAIT).until(() -> listener.completed);
		assertThat(listener.last().type()).isEqualTo("stream.failed");
		assertThat(reclaimed("stream")).isEqualTo(1);
	}

	@Test
	void aStreamWithoutListenersPastItsGraceIsCancelled() {
		StreamManager manager = Harness.manager(this.slots,
				Harness.streams(Duration.ofMillis(20), Duration.ofMillis(20), 10_000), Harness.upstream(),
				new FakeStuckTimers(), this.upstream);
		LeakAuditor auditor = auditor(manager);
		StreamManager.Started started = manager.start(Harness.prompt("controlled", "hi"), true);
		Recorder listener = Recorder.reading(started.listener());
		Call call = this.upstream.nextCall(WAIT);
		listener.dispose();
		Await.atMost(WAIT).during(Duration.ofMillis(120)).until(() -> true);
		assertThat(manager.status(started.view().id()).status()).as("its grace timer never fired")
			.isEqualTo("in_progress");

		assertThat(auditor.audit()).extracting(LeakAudit.Leak::resource).containsExactly("stream");
		assertThat(manager.status(started.view().id()).finishReason()).isEqualTo("client_disconnected");
		assertThat(call.cancelled()).isTrue();
		assertThat(this.slots.inUse()).isZero();
	}

	@Test
	void aStreamNobodyAttachedToPastItsAttachTimeoutIsCancelled() {
		StreamManager manager = Harness.manager(this.slots,
				Harness.streams(Duration.ofMillis(20), Duration.ZERO, 10_000), Harness.upstream(),
				new FakeStuckTimers(), this.upstream);
		LeakAuditor auditor = auditor(manager);
		StreamManager.Started started = manager.start(Harness.prompt("controlled", "nobody"), false);
		Await.atMost(WAIT).during(Duration.ofMillis(120)).until(() -> true);

		assertThat(auditor.audit()).extracting(LeakAudit.Leak::resource).containsExactly("stream");
		assertThat(manager.status(started.view().id()).finishReason()).isEqualTo("never_attached");
		assertThat(this.upstream.calls()).isEmpty();
	}

	/**
	 * A listener still attached to an ended stream, that had the stream's events to give and was asked
	 * for more, is one the end forgot: a leak.
	 */
	@Test
	void aListenerStillAttachedToATerminalStreamIsDisconnected() {
		StreamManager manager = Harness.manager(this.slots, Harness.streams(), Harness.upstream(), this.upstream);
		LeakAuditor auditor = auditor(manager);
		StreamManager.Started started = manager.start(Harness.background("controlled", "hi"), false);
		String id = started.view().id();
		this.upstream.nextCall(WAIT).token("a").finish("stop");
		Await.atMost(WAIT).until(() -> "completed".equals(manager.status(id).status()));
		// Attached, and never connected: its answer's body was never subscribed (in the server, the
		// exchange's end would make it leave; here nothing does).
		Listener forgotten = manager.attach(id, 0);
		Await.atMost(WAIT).during(SLACK.multipliedBy(2)).until(() -> true);

		assertThat(auditor.audit()).extracting(LeakAudit.Leak::resource).containsExactly("listener");
		assertThat(manager.listenerCount()).isZero();
		assertThat(forgotten.fellBehind()).isFalse();
		assertThat(reclaimed("listener")).isEqualTo(1);
	}

	/**
	 * A listener whose client stopped reading (here: asked for one event and no more) waits for its
	 * reader, with the rest of the stream's events in the log: a slow or stalled client, not a leak.
	 * Past the slack after the stream ended it is dropped as one that fell behind (its client may
	 * resume), and counts as no leak. (The benchmark's client, on a core overloaded for seconds, was
	 * once counted as ten leaks this way.)
	 */
	@Test
	void aListenerWhoseClientStoppedReadingIsDroppedPastTheSlackAndIsNoLeak() {
		StreamManager manager = Harness.manager(this.slots, Harness.streams(), Harness.upstream(), this.upstream);
		LeakAuditor auditor = auditor(manager);
		StreamManager.Started started = manager.start(Harness.prompt("controlled", "hi"), true);
		Recorder stalled = Recorder.withDemand(started.listener(), 1);
		this.upstream.nextCall(WAIT).token("a").finish("stop");
		assertThat(manager.status(started.view().id()).status()).isEqualTo("completed");
		assertThat(manager.listenerCount()).isEqualTo(1);
		assertThat(auditor.audit()).as("within the slack").isEmpty();
		assertThat(manager.listenerCount()).isEqualTo(1);
		Await.atMost(WAIT).during(SLACK.multipliedBy(2)).until(() -> true);

		assertThat(auditor.audit()).isEmpty();
		assertThat(stalled.completed).isTrue();
		assertThat(stalled.terminalEvents()).isZero();
		assertThat(started.listener().fellBehind()).isTrue();
		assertThat(manager.listenerCount()).isZero();
		assertThat(reclaimed("listener")).isZero();
	}

	@Test
	void aReplayOfAStreamThatEndedLongAgoIsAgedFromItsOwnAttach() {
		StreamManager manager = Harness.manager(this.slots, Harness.streams(), Harness.upstream(), this.upstream);
		LeakAuditor auditor = auditor(manager);
		StreamManager.Started started = manager.start(Harness.background("controlled", "hi"), false);
		this.upstream.nextCall(WAIT).token("a").finish("stop");
		String id = started.view().id();
		Await.atMost(WAIT).until(() -> "completed".equals(manager.status(id).status()));
		Await.atMost(WAIT).during(SLACK.multipliedBy(2)).until(() -> true);

		// Found by the hostile-input property test: a replay starting now was cut as a leak, because its
		// age was taken from the stream's end.
		Recorder replaying = Recorder.withDemand(manager.attach(id, 0), 1);
		assertThat(auditor.audit()).isEmpty();
		assertThat(replaying.completed).isFalse();

		// Still stalled past the slack from its own attach: a reader that stopped, dropped, not a leak.
		Await.atMost(WAIT).during(SLACK.multipliedBy(2)).until(() -> true);
		assertThat(auditor.audit()).isEmpty();
		assertThat(replaying.completed).isTrue();
		assertThat(manager.listenerCount()).isZero();
		assertThat(reclaimed("listener")).isZero();
	}

	@Test
	void normalOperationGivesTheAuditorNothingToFind() {
		StreamManager manager = Harness.manager(this.slots,
				Harness.streams(Duration.ofMillis(30), Duration.ofMillis(10), 10_000),
				UpstreamProperties.withTimeouts(Duration.ofMillis(200), Duration.ofMillis(200), Duration.ofSeconds(5)),
				Schedulers.parallel(), this.upstream);
		LeakAuditor auditor = auditor(manager);
		for (int i = 0; i < 20; i++) {
			StreamManager.Started started = manager.start(Harness.prompt("controlled", "n" + i), true);
			Recorder listener = Recorder.reading(started.listener());
			Call call = this.upstream.nextCall(WAIT).token("a");
			switch (i % 4) {
				case 0 -> call.finish("stop");
				case 1 -> manager.cancel(started.view().id());
				case 2 -> listener.dispose();
				default -> call.fail(new IllegalStateException("boom"));
			}
		}
		manager.start(Harness.prompt("controlled", "never attached"), false);
		Await.atMost(WAIT).until(() -> manager.liveCount() == 0);
		Await.atMost(WAIT).during(SLACK.multipliedBy(2)).until(() -> true);

		assertThat(auditor.audit()).isEmpty();
		for (String resource : List.of("slot", "stream", "listener")) {
			assertThat(reclaimed(resource)).isZero();
		}
	}

	private LeakAuditor auditor(StreamManager manager) {
		return new LeakAuditor(manager, this.registry, SLACK, Schedulers.parallel());
	}

	private double reclaimed(String resource) {
		return this.registry.get("scalpel.leaks.reclaimed").tag("resource", resource).counter().count();
	}

}
