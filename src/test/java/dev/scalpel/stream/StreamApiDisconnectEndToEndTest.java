package dev.scalpel.stream;

import java.time.Duration;

import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;


import dev.scalpel.support.Await;
import dev.scalpel.support.EventRecorder;
import dev.scalpel.support.ScalpelTest;
import dev.scalpel.support.StreamsClient;
import dev.scalpel.support.FakeControlledTokenSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A client that closes its connection ends its stream {@code cancelled/client_disconnected}, and the
 * stream's queue place, slot and upstream call are released within 100 ms of the client closing,
 * whether it was waiting for a slot, waiting for its first token, or mid-stream with or without
 * tokens flowing. One slot, so that a second stream has to queue; a slower simulated model, so that
 * a disconnect mid-stream happens well before the reply ends. Cancelling a queued stream is here too,
 * because it needs the queue.
 */
@ScalpelTest(properties = { "scalpel.slots.max=1", "scalpel.providers.simulated.tokens-per-second=50" })
class StreamApiDisconnectEndToEndTest extends ApiEndToEndTest {

	private static final String CONTROLLED = "{\"model\":\"controlled\",\"prompt\":\"Hold on\"}";

	/** A wait that must succeed within 100 ms of the moment the client disposed its subscription. */
	private static ConditionFactory within100MillisOf(long disposedAt) {
		Duration left = Duration.ofMillis(100).minusNanos(System.nanoTime() - disposedAt);
		return Await.atMost(left);
	}

	@Test
	void leavingWhileQueuedForASlotCancelsTheStreamAndLeavesTheQueueAtOnce() {
		String occupant = this.client.startAccepted("{\"model\":\"controlled\",\"prompt\":\"Mine\",\"background\":true}");
		this.controlled.nextCall(StreamsClient.TIMEOUT);
		assertThat(this.slots.inUse()).isEqualTo(1);
		EventRecorder waiting = this.client.open(CONTROLLED).awaitEvent("stream.queued");
		String id = waiting.streamId();
		assertThat(this.client.data(waiting.events().get(1)).get("queue_position").asInt()).isEqualTo(1);
		assertThat(this.slots.queued()).isEqualTo(1);
		assertThat(this.client.status(id).get("queue_position").asInt()).isEqualTo(1);
		int upstreamCalls = this.controlled.calls().size();

		long disposedAt = waiting.disconnect();

		within100MillisOf(disposedAt).until(() -> this.slots.queued() == 0);
		JsonNode status = this.client.status(id);
		assertThat(status.get("status").asString()).isEqualTo("cancelled");
		assertThat(status.get("finish_reason").asString()).isEqualTo("client_disconnected");
		assertThat(status.get("queue_position").isNull()).isTrue();
		assertThat(status.get("started_at").isNull()).isTrue();
		// The slot the stream waited for goes to nobody once it is freed, and no upstream call is made.
		this.client.cancel(occupant);
		assertThat(this.slots.inUse()).isZero();
		assertThat(this.controlled.calls()).hasSize(upstreamCalls);
		assertThat(this.client.replay(id)).extracting(event -> event.event())
			.containsExactly("stream.created", "stream.queued", "stream.cancelled");
	}

	@Test
	void queuedStreamLearnsItsBetterPositionAndStartsWhenTheSlotIsFreed() {
		String occupant = this.client.startAccepted("{\"model\":\"controlled\",\"prompt\":\"Mine\",\"background\":true}");
		this.controlled.nextCall(StreamsClient.TIMEOUT);
		EventRecorder ahead = this.client.open(CONTROLLED).awaitEvent("stream.queued");
		EventRecorder behind = this.client.open(CONTROLLED).awaitEvent("stream.queued");
		assertThat(this.client.data(behind.last()).get("queue_position").asInt()).isEqualTo(2);

		this.client.cancel(ahead.streamId());
		behind.awaitEventCount(3);
		this.client.cancel(occupant);
		this.controlled.nextCall(StreamsClient.TIMEOUT).token("Finally").finish("stop");

		behind.awaitCompletion();
		assertThat(behind.types()).containsExactly("stream.created", "stream.queued", "stream.queued",
				"stream.started", "token", "stream.completed");
		assertThat(behind.ids()).containsExactly(1L, 2L, 3L, 4L, 5L, 6L);
		assertThat(this.client.data(behind.events().get(2)).get("queue_position").asInt()).isEqualTo(1);
		assertThat(this.client.data(behind.events().get(3)).get("queue_position").isNull()).isTrue();
	}

	@Test
	void cancelWhileQueuedForASlotLeavesTheQueueBeforeAnsweringAndEndsTheListenerWithCancelled() {
		this.client.startAccepted("{\"model\":\"controlled\",\"prompt\":\"Mine\",\"background\":true}");
		this.controlled.nextCall(StreamsClient.TIMEOUT);
		EventRecorder waiting = this.client.open(CONTROLLED).awaitEvent("stream.queued");
		String id = waiting.streamId();

		StreamsClient.Observed<Integer> cancel = this.client.cancelObserving(id, this.slots::queued);

		assertThat(cancel.atArrival()).isZero();
		assertThat(this.client.json(cancel.reply()).get("finish_reason").asString()).isEqualTo("cancel_requested");
		assertThat(waiting.awaitCompletion().types()).containsExactly("stream.created", "stream.queued",
				"stream.cancelled");
		assertThat(this.slots.inUse()).isEqualTo(1);
	}

	@Test
	void leavingAfterTheStartBeforeTheFirstTokenFreesTheSlotAndClosesTheUpstreamCallAtOnce() {
		EventRecorder listener = this.client.open(CONTROLLED).awaitEvent("stream.started");
		String id = listener.streamId();
		FakeControlledTokenSource.Call call = this.controlled.nextCall(StreamsClient.TIMEOUT);
		assertThat(this.slots.inUse()).isEqualTo(1);

		long disposedAt = listener.disconnect();

		within100MillisOf(disposedAt).until(() -> this.slots.inUse() == 0 && call.closed());
		assertThat(call.cancelled()).isTrue();
		JsonNode status = this.client.status(id);
		assertThat(status.get("status").asString()).isEqualTo("cancelled");
		assertThat(status.get("finish_reason").asString()).isEqualTo("client_disconnected");
		assertThat(status.get("first_token_at").isNull()).isTrue();
		assertThat(this.client.replay(id)).extracting(event -> event.event())
			.containsExactly("stream.created", "stream.started", "stream.cancelled");
	}

	@Test
	void leavingMidStreamWhileNoTokenFlowsFreesTheSlotAndClosesTheUpstreamCallAtOnce() {
		EventRecorder listener = this.client.open(CONTROLLED);
		String id = listener.streamId();
		FakeControlledTokenSource.Call call = this.controlled.nextCall(StreamsClient.TIMEOUT);
		call.token("Once").token(" upon");
		listener.awaitEventCount(4);

		long disposedAt = listener.disconnect();

		within100MillisOf(disposedAt).until(() -> this.slots.inUse() == 0 && call.closed());
		assertThat(call.cancelled()).isTrue();
		JsonNode status = this.client.status(id);
		assertThat(status.get("status").asString()).isEqualTo("cancelled");
		assertThat(status.get("finish_reason").asString()).isEqualTo("client_disconnected");
		assertThat(status.get("usage").get("output_tokens").asInt()).isEqualTo(2);
	}

	@Test
	void leavingMidStreamWhileTokensFlowFreesTheSlotAndClosesTheUpstreamCallAtOnce() {
		long cancelledBefore = this.simulated.cancelled();
		EventRecorder listener = this.client.open("{\"prompt\":\"Talk for a while\"}");
		String id = listener.streamId();
		listener.awaitEventCount(5);

		long disposedAt = listener.disconnect();

		within100MillisOf(disposedAt).until(() -> this.slots.inUse() == 0 && this.simulated.active() == 0);
		assertThat(this.simulated.cancelled()).isEqualTo(cancelledBefore + 1);
		JsonNode status = this.client.status(id);
		assertThat(status.get("status").asString()).isEqualTo("cancelled");
		assertThat(status.get("finish_reason").asString()).isEqualTo("client_disconnected");
	}

	@Test
	void streamGoesOnWhileAnyListenerRemainsAndIsCancelledWhenTheLastOneLeaves() {
		EventRecorder opener = this.client.open(CONTROLLED);
		String id = opener.streamId();
		FakeControlledTokenSource.Call call = this.controlled.nextCall(StreamsClient.TIMEOUT);
		EventRecorder other = this.client.attach(id).awaitEventCount(2);

		opener.disconnect();

		// Longer than a departure takes to cancel a stream (see the tests above), so the leave was seen.
		await().during(Duration.ofMillis(300))
			.atMost(Duration.ofSeconds(2))
			.until(() -> !call.closed() && this.slots.inUse() == 1);
		call.token("still here");

		other.awaitEventCount(3);
		assertThat(other.types()).containsExactly("stream.created", "stream.started", "token");
		assertThat(call.cancelled()).isFalse();
		assertThat(this.client.status(id).get("status").asString()).isEqualTo("in_progress");

		long disposedAt = other.disconnect();

		within100MillisOf(disposedAt).until(() -> this.slots.inUse() == 0 && call.closed());
		JsonNode status = this.client.status(id);
		assertThat(status.get("status").asString()).isEqualTo("cancelled");
		assertThat(status.get("finish_reason").asString()).isEqualTo("client_disconnected");
	}

	@Test
	void backgroundStreamRunsOnToCompletionWhenItsListenerLeaves() {
		EventRecorder listener = this.client.open("{\"prompt\":\"Keep going\",\"background\":true}");
		String id = listener.streamId();
		listener.awaitEvent("token");

		listener.disconnect();

		Await.atMost(StreamsClient.TIMEOUT)
			.until(() -> "completed".equals(this.client.status(id).get("status").asString()));
		JsonNode status = this.client.status(id);
		assertThat(status.get("finish_reason").asString()).isEqualTo("stop");
		assertThat(this.client.replay(id)).extracting(event -> event.event()).last().isEqualTo("stream.completed");
	}

}
