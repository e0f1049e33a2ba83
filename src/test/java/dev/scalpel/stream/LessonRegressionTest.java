package dev.scalpel.stream;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.web.server.LocalServerPort;

import dev.scalpel.slot.SlotPool;
import dev.scalpel.stream.Harness.Recorder;
import dev.scalpel.support.Await;
import dev.scalpel.support.ScalpelTest;
import dev.scalpel.support.FakeControlledTokenSource;
import dev.scalpel.support.FakeControlledTokenSource.Call;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;


/**
 * One regression test per lesson of the original system (ARCHITECTURE.md, lessons 1 to 9), each
 * named after its lesson, run against the whole application: the test drives the upstream by hand
 * ({@link FakeControlledTokenSource}) and acts as listener through the manager or over a real socket.
 * Lesson 10 (cancellations trip the circuit breaker) needs a real provider endpoint and its breaker:
 * it is {@code CircuitBreakerEndToEndTest.lesson10CancellationsNeverTripTheBreaker...}.
 */
@ScalpelTest(properties = { "scalpel.slots.max=2", "scalpel.queue.max=4", "scalpel.streams.attach-timeout=1s",
		"scalpel.streams.max-events=64" })
class LessonRegressionTest {

	private static final Duration WAIT = Duration.ofSeconds(5);

	private static final ExecutorService racers = Executors.newFixedThreadPool(2);

	@Autowired
	StreamManager manager;

	@Autowired
	SlotPool slots;

	@Autowired
	FakeControlledTokenSource upstream;

	@LocalServerPort
	int port;

	@BeforeEach
	void forgetEarlierCalls() {
		this.upstream.reset();
	}

	@AfterEach
	void nothingHeld() {
		Await.atMost(WAIT).until(() -> this.slots.inUse() == 0 && this.slots.queued() == 0);
		Await.atMost(WAIT).until(() -> this.upstream.open() == 0);
	}

	@AfterAll
	static void stopRacers() {
		racers.shutdownNow();
	}

	@Test
	void lesson1StuckWriterClientThatLeftWhileUnreadDataWaitedFreesTheSlot() throws Exception {
		String id;
		Call call;
		try (Socket socket = new Socket("localhost", this.port)) {
			socket.setSoTimeout((int) WAIT.toMillis());
			String body = "{\"model\":\"controlled\",\"prompt\":\"hi\"}";
			OutputStream out = socket.getOutputStream();
			out.write(("POST /v1/streams HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n"
					+ "Content-Type: application/json\r\nContent-Length: " + body.length() + "\r\n\r\n" + body)
				.getBytes(StandardCharsets.US_ASCII));
			out.flush();
			id = readStreamId(socket.getInputStream());
			call = this.upstream.nextCall(WAIT);
			// The client stops reading while the model goes on writing.
			for (int i = 0; i < 20; i++) {
				call.token("unread " + i);
			}
		}
		Call closedCall = call;
		Await.atMost(WAIT).until(closedCall::cancelled);
		StreamView view = this.manager.status(id);
		assertThat(view.status()).isEqualTo("cancelled");
		assertThat(view.finishReason()).isEqualTo("client_disconnected");
		assertThat(this.slots.inUse()).isZero();
	}

	@Test
	void lesson1StuckWriterListenerThatReadsNothingDoesNotHoldTheGeneration() {
		StreamManager.Started started = this.manager.start(Harness.prompt("controlled", "hi"), true);
		Recorder reader = Recorder.withDemand(started.listener(), 0);
		Call call = this.upstream.nextCall(WAIT);
		call.token("a").token("b").finish("stop");
		assertThat(this.manager.status(started.view().id()).status()).isEqualTo("completed");
		assertThat(this.slots.inUse()).isZero();
		assertThat(reader.events).isEmpty();
		reader.request(Long.MAX_VALUE);
		Await.atMost(WAIT).until(() -> reader.completed);
		assertThat(reader.types()).containsExactly("stream.created", "stream.started", "token", "token",
				"stream.completed");
	}

	@Test
	void lesson2PreEmptiveCleanupCancelledStreamStillAnswersCancelled() {
		StreamManager.Started started = this.manager.start(Harness.prompt("controlled", "hi"), true);
		Recorder first = Recorder.reading(started.listener());
		this.upstream.nextCall(WAIT).token("a");
		this.manager.cancel(started.view().id());
		Await.atMost(WAIT).until(() -> first.completed);

		StreamView status = this.manager.status(started.view().id());
		assertThat(status.status()).isEqualTo("cancelled");
		assertThat(status.finishReason()).isEqualTo("cancel_requested");
		Recorder replay = Recorder.reading(this.manager.attach(started.view().id(), 0));
		Await.atMost(WAIT).until(() -> replay.completed);
		assertThat(replay.types()).containsExactly("stream.created", "stream.started", "token", "stream.cancelled");
	}

	@Test
	void lesson3MutedMessengerCancelDuringStreamingDeliversTheTerminalEvent() {
		StreamManager.Started started = this.manager.start(Harness.prompt("controlled", "hi"), true);
		Recorder listener = Recorder.reading(started.listener());
		Call call = this.upstream.nextCall(WAIT);
		call.token("a").token("b");
		this.manager.cancel(started.view().id());
		Await.atMost(WAIT).until(() -> listener.completed);
		assertThat(listener.last().type()).isEqualTo("stream.cancelled");
		assertThat(listener.terminalEvents()).isEqualTo(1);
		assertThat(call.cancelled()).isTrue();
	}

	@Test
	void lesson4PreStreamDeadlockCancelWhileQueuedOrBeforeTheFirstTokenReleasesTheListener() {
		// Two streams take both slots, so a third one waits in the queue with its listener attached.
		StreamManager.Started busy1 = this.manager.start(Harness.prompt("controlled", "one"), true);
		StreamManager.Started busy2 = this.manager.start(Harness.prompt("controlled", "two"), true);
		Recorder.reading(busy1.listener());
		Recorder.reading(busy2.listener());
		StreamManager.Started queued = this.manager.start(Harness.prompt("controlled", "three"), true);
		Recorder waiting = Recorder.reading(queued.listener());
		assertThat(this.manager.status(queued.view().id()).queuePosition()).isEqualTo(1);
		this.manager.cancel(queued.view().id());
		Await.atMost(WAIT).until(() -> waiting.completed);
		assertThat(waiting.types()).containsExactly("stream.created", "stream.queued", "stream.cancelled");
		this.manager.cancel(busy1.view().id());
		this.manager.cancel(busy2.view().id());

		// Attached, slot granted, upstream called, no token yet.
		StreamManager.Started deferred = this.manager.start(Harness.prompt("controlled", "four"), false);
		Recorder attached = Recorder.reading(this.manager.attach(deferred.view().id(), 0));
		Call call = this.upstream.nextCall(WAIT);
		this.upstream.reset();
		assertThat(this.manager.status(deferred.view().id()).status()).isEqualTo("in_progress");
		this.manager.cancel(deferred.view().id());
		Await.atMost(WAIT).until(() -> attached.completed);
		assertThat(attached.last().type()).isEqualTo("stream.cancelled");
		assertThat(call.cancelled()).isTrue();
	}

	@Test
	void lesson5OverwrittenVerdictFirstTerminalTransitionWins() throws Exception {
		for (int round = 0; round < 300; round++) {
			StreamManager.Started started = this.manager.start(Harness.prompt("controlled", "race " + round), true);
			Recorder listener = Recorder.reading(started.listener());
			Call call = this.upstream.nextCall(WAIT);
			call.token("a");
			CountDownLatch go = new CountDownLatch(1);
			Future<StreamView> cancel = racers.submit(() -> {
				go.await();
				return this.manager.cancel(started.view().id());
			});
			Future<?> failure = racers.submit(() -> {
				go.await();
				if (Math.random() < 0.5) {
					call.fail(new IllegalStateException("upstream broke"));
				}
				else {
					call.finish("stop");
				}
				return null;
			});
			go.countDown();
			StreamView answered = cancel.get(5, TimeUnit.SECONDS);
			failure.get(5, TimeUnit.SECONDS);
			Await.atMost(WAIT).until(() -> listener.completed);

			StreamView settled = this.manager.status(started.view().id());
			assertThat(answered.status()).isIn("cancelled", "failed", "completed");
			assertThat(settled.status()).isEqualTo(answered.status());
			assertThat(settled.finishReason()).isEqualTo(answered.finishReason());
			assertThat(listener.terminalEvents()).isEqualTo(1);
			assertThat(listener.last().type()).isEqualTo("stream." + settled.status());
		}
	}

	@Test
	void lesson6DoubleCancelAndCancelAfterCompletionAreIdempotent() {
		StreamManager.Started started = this.manager.start(Harness.prompt("controlled", "hi"), true);
		Recorder.reading(started.listener());
		this.upstream.nextCall(WAIT);
		StreamView first = this.manager.cancel(started.view().id());
		StreamView second = this.manager.cancel(started.view().id());
		assertThat(second).isEqualTo(first);
		assertThat(second.status()).isEqualTo("cancelled");

		StreamManager.Started done = this.manager.start(Harness.prompt("controlled", "done"), true);
		Recorder listener = Recorder.reading(done.listener());
		this.upstream.nextCall(WAIT).token("a").finish("stop");
		Await.atMost(WAIT).until(() -> listener.completed);
		StreamView afterCompletion = this.manager.cancel(done.view().id());
		assertThat(afterCompletion.status()).isEqualTo("completed");
		assertThat(afterCompletion.finishReason()).isEqualTo("stop");
		assertThat(afterCompletion.cancelledAt()).isNull();
	}

	@Test
	void lesson7GenerationForNobodyNoUpstreamCallUntilSomeoneAttaches() {
		int callsBefore = this.upstream.calls().size();
		StreamManager.Started started = this.manager.start(Harness.prompt("controlled", "nobody"), false);
		assertThat(started.listener()).isNull();
		assertThat(started.view().status()).isEqualTo("queued");
		assertThat(this.slots.inUse()).isZero();
		Await.atMost(WAIT).until(() -> this.manager.status(started.view().id()).status().equals("cancelled"));
		assertThat(this.manager.status(started.view().id()).finishReason()).isEqualTo("never_attached");
		assertThat(this.upstream.calls()).hasSize(callsBefore);
	}

	@Test
	void lesson8SlowListenerBlocksNobody() {
		StreamManager.Started started = this.manager.start(Harness.prompt("controlled", "hi"), true);
		Recorder fast = Recorder.reading(started.listener());
		Recorder slow = Recorder.withDemand(this.manager.attach(started.view().id(), 0), 1);
		Call call = this.upstream.nextCall(WAIT);
		for (int i = 0; i < 200; i++) {
			call.token("t" + i);
		}
		call.finish("stop");
		// The generation ran to its end at its own pace, and the reader that kept up saw all of it.
		assertThat(this.manager.status(started.view().id()).status()).isEqualTo("completed");
		Await.atMost(WAIT).until(() -> fast.completed);
		assertThat(fast.events).hasSize(203);
		assertThat(fast.last().type()).isEqualTo("stream.completed");
		// The reader that fell behind the retained events was disconnected, not waited for.
		Await.atMost(WAIT).until(() -> slow.completed);
		assertThat(slow.events).hasSize(1);
		assertThatThrownBy(() -> this.manager.attach(started.view().id(), 1)).isInstanceOf(EventsExpired.class);
	}

	@Test
	void lesson9LateJoinerGetsTheReplayThenLiveEvents() {
		StreamManager.Started started = this.manager.start(Harness.prompt("controlled", "hi"), true);
		Recorder early = Recorder.reading(started.listener());
		Call call = this.upstream.nextCall(WAIT);
		call.token("a").token("b");
		Recorder late = Recorder.reading(this.manager.attach(started.view().id(), 0));
		call.token("c").finish("stop");
		Await.atMost(WAIT).until(() -> early.completed && late.completed);
		Recorder afterEnd = Recorder.reading(this.manager.attach(started.view().id(), 0));
		Await.atMost(WAIT).until(() -> afterEnd.completed);

		List<String> expected = List.of("stream.created", "stream.started", "token", "token", "token",
				"stream.completed");
		assertThat(early.types()).isEqualTo(expected);
		assertThat(late.events).isEqualTo(early.events);
		assertThat(afterEnd.events).isEqualTo(early.events);
	}

	/** Reads the response head and returns its X-Stream-Id. */
	private static String readStreamId(InputStream in) throws IOException {
		StringBuilder head = new StringBuilder();
		while (!head.toString().endsWith("\r\n\r\n")) {
			int next = in.read();
			if (next < 0) {
				throw new IOException("connection closed before the response head: " + head);
			}
			head.append((char) next);
		}
		for (String line : head.toString().split("\r\n")) {
			if (line.toLowerCase().startsWith("x-stream-id:")) {
				return line.substring("x-stream-id:".length()).trim();
			}
		}
		throw new IOException("no X-Stream-Id in " + head);
	}

}
