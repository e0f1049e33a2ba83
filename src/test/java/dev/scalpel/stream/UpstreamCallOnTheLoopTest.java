package dev.scalpel.stream;

import java.time.Duration;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import io.netty.channel.DefaultEventLoopGroup;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import dev.scalpel.slot.SlotPool;
import dev.scalpel.stream.Harness.Recorder;
import dev.scalpel.support.Await;
import dev.scalpel.support.FakeControlledTokenSource;
import dev.scalpel.support.FakeControlledTokenSource.Call;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * On an event loop, a stream that got its slot makes its upstream call one loop task later, so that
 * a stream that ended in the turn it started in (its client's close read together with its request)
 * calls the provider for nobody. Each case runs hundreds of times on a real Netty event loop, with
 * every wait bounded.
 */
class UpstreamCallOnTheLoopTest {

	private static final int RUNS = 300;

	private static final Duration WAIT = Duration.ofSeconds(5);

	private final FakeControlledTokenSource upstream = new FakeControlledTokenSource();

	/**
	 * On plain threads: BlockHound, installed in this JVM once a test has started the application,
	 * would otherwise fail the test provider's queue when the test thread contends for it.
	 */
	private final EventLoopGroup loops = new DefaultEventLoopGroup(1, (ThreadFactory) Thread::new);

	private final EventLoop loop = this.loops.next();

	private final SlotPool slots = new SlotPool(2, 4, Duration.ofSeconds(30));

	private final StreamManager manager = Harness.manager(this.slots, Harness.streams(), Harness.upstream(),
			this.upstream);

	@AfterEach
	void stop() {
		this.manager.stop();
		this.loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
	}

	@Test
	void aStreamThatEndsInTheTurnItStartedInCallsNobody() {
		SplittableRandom random = new SplittableRandom(7);
		for (int run = 0; run < RUNS; run++) {
			boolean disconnect = random.nextBoolean();
			int callsBefore = this.upstream.calls().size();
			String id = onLoop(() -> {
				StreamManager.Started started = this.manager.start(Harness.prompt("controlled", "gone"), true);
				Recorder client = Recorder.reading(started.listener());
				if (disconnect) {
					client.dispose();
				}
				else {
					this.manager.cancel(started.view().id());
				}
				return started.view().id();
			});
			drainLoop();

			assertThat(this.upstream.calls()).as("upstream calls, run %d", run).hasSize(callsBefore);
			assertThat(this.slots.inUse()).as("slots held, run %d", run).isZero();
			StreamView view = this.manager.status(id);
			assertThat(view.status()).isEqualTo("cancelled");
			assertThat(view.finishReason()).isEqualTo(disconnect ? "client_disconnected" : "cancel_requested");
		}
	}

	@Test
	void aStreamStillWantedAfterItsTurnMakesItsCallAndClosesItWhenItEnds() {
		SplittableRandom random = new SplittableRandom(11);
		for (int run = 0; run < RUNS; run++) {
			boolean disconnect = random.nextBoolean();
			AtomicReference<Recorder> client = new AtomicReference<>();
			String id = onLoop(() -> {
				StreamManager.Started started = this.manager.start(Harness.prompt("controlled", "wanted"), true);
				client.set(Recorder.reading(started.listener()));
				return started.view().id();
			});
			// The next turn's task (queued behind the call) ends the stream.
			onLoop(() -> {
				if (disconnect) {
					client.get().dispose();
				}
				else {
					this.manager.cancel(id);
				}
				return null;
			});
			Call call = this.upstream.nextCall(WAIT);
			assertThat(call.cancelled()).as("call closed, run %d", run).isTrue();
			assertThat(this.upstream.open()).isZero();
			assertThat(this.slots.inUse()).isZero();
			assertThat(this.manager.status(id).status()).isEqualTo("cancelled");
		}
	}

	@Test
	void aSlotFreedOnTheLoopStartsTheQueuedStreamsCallOneTaskLater() {
		// Two slots, both taken; the third stream queues. The first stream's end, on the loop, hands its
		// slot to the queued one, whose call then goes out one task later, unless it ended meanwhile.
		SplittableRandom random = new SplittableRandom(13);
		for (int run = 0; run < RUNS / 3; run++) {
			boolean queuedLeavesInTheSameTurn = random.nextBoolean();
			String first = background("first");
			String second = background("second");
			Call firstCall = this.upstream.nextCall(WAIT);
			Call secondCall = this.upstream.nextCall(WAIT);
			AtomicReference<Recorder> queuedClient = new AtomicReference<>();
			String queued = onLoop(() -> {
				StreamManager.Started started = this.manager.start(Harness.prompt("controlled", "queued"), true);
				queuedClient.set(Recorder.reading(started.listener()));
				return started.view().id();
			});
			assertThat(this.manager.status(queued).status()).as("run %d", run).isEqualTo("queued");
			int callsBefore = this.upstream.calls().size();
			onLoop(() -> {
				this.manager.cancel(first);
				if (queuedLeavesInTheSameTurn) {
					queuedClient.get().dispose();
				}
				return null;
			});
			drainLoop();
			assertThat(firstCall.cancelled()).isTrue();
			if (queuedLeavesInTheSameTurn) {
				assertThat(this.upstream.calls()).as("run %d", run).hasSize(callsBefore);
				assertThat(this.manager.status(queued).finishReason()).isEqualTo("client_disconnected");
			}
			else {
				assertThat(this.upstream.calls()).as("run %d", run).hasSize(callsBefore + 1);
				this.upstream.nextCall(WAIT).token("late").finish("stop");
				Await.atMost(WAIT).until(() -> queuedClient.get().completed);
				assertThat(queuedClient.get().last().type()).isEqualTo("stream.completed");
			}
			this.manager.cancel(second);
			assertThat(secondCall.cancelled()).isTrue();
			Await.atMost(WAIT).until(() -> this.slots.inUse() == 0 && this.upstream.open() == 0);
		}
	}

	@Test
	void aStreamEndedFromAnotherThreadWhileItStartsOnTheLoopNeverKeepsACallOpen() throws Exception {
		// The race without a fixed order: the end comes from another thread at a random instant, before,
		// during or after the deferred call. Whatever the order, the stream ends cancelled, its slot is
		// free, and any call made was closed.
		SplittableRandom random = new SplittableRandom(17);
		record Racing(StreamManager.Started started, Recorder client) {
		}
		for (int run = 0; run < RUNS; run++) {
			long pause = random.nextLong(200_000);
			boolean disconnect = random.nextBoolean();
			int callsBefore = this.upstream.calls().size();
			Racing racing = onLoop(() -> {
				StreamManager.Started started = this.manager.start(Harness.prompt("controlled", "racing"), true);
				return new Racing(started, Recorder.reading(started.listener()));
			});
			spin(pause);
			if (disconnect) {
				racing.client().dispose();
			}
			else {
				this.manager.cancel(racing.started().view().id());
			}
			drainLoop();
			Await.atMost(WAIT).until(() -> this.upstream.open() == 0);
			int calls = this.upstream.calls().size() - callsBefore;
			assertThat(calls).as("calls made, run %d", run).isBetween(0, 1);
			if (calls == 1) {
				assertThat(this.upstream.calls().get(callsBefore).closed()).isTrue();
			}
			assertThat(this.slots.inUse()).isZero();
			assertThat(this.manager.status(racing.started().view().id()).status()).isEqualTo("cancelled");
		}
	}

	private String background(String prompt) {
		return onLoop(() -> this.manager.start(Harness.background("controlled", prompt), false).view().id());
	}

	/** Runs on the loop and waits for the result; the task's deferred work is queued behind it. */
	private <T> T onLoop(Callable<T> task) {
		try {
			return this.loop.submit(task).get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
		}
		catch (Exception ex) {
			throw new AssertionError(ex);
		}
	}

	/** Waits until every task queued on the loop so far has run. */
	private void drainLoop() {
		onLoop(() -> null);
	}

	/** Busy-waits on the test's thread, so that the end comes while the loop may still be at work. */
	private static void spin(long nanos) {
		long deadline = System.nanoTime() + nanos;
		while (System.nanoTime() - deadline < 0) {
			Thread.onSpinWait();
		}
	}

}
