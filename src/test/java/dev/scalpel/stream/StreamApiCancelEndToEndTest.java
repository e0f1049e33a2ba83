package dev.scalpel.stream;

import java.util.List;

import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

import org.springframework.http.MediaType;
import org.springframework.http.codec.ServerSentEvent;

import dev.scalpel.support.EventRecorder;
import dev.scalpel.support.ScalpelTest;
import dev.scalpel.support.StreamsClient;
import dev.scalpel.support.FakeControlledTokenSource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code POST /v1/streams/{id}/cancel} over real sockets, on the {@code controlled} model so that the
 * test decides when tokens flow: the slot and the upstream call are released before the answer,
 * every listener's last event is {@code stream.cancelled}, cancel is idempotent and leaves a finished
 * stream alone, and cancel-then-attach replays rather than answering "not found".
 */
@ScalpelTest
class StreamApiCancelEndToEndTest extends ApiEndToEndTest {

	private static final String CONTROLLED = "{\"model\":\"controlled\",\"prompt\":\"Take your time\"}";

	/** What the client could see of the server the instant the cancel response arrived. */
	record Released(int slotsInUse, boolean upstreamCancelled, boolean upstreamClosed) {
	}

	@Test
	void cancelMidStreamReleasesSlotAndUpstreamBeforeAnsweringAndEndsEveryListenerWithCancelled() {
		int slotsBefore = this.slots.inUse();
		EventRecorder first = this.client.open(CONTROLLED);
		String id = first.streamId();
		FakeControlledTokenSource.Call call = this.controlled.nextCall(StreamsClient.TIMEOUT);
		call.token("Hel").token("lo");
		first.awaitEventCount(4);
		EventRecorder second = this.client.attach(id).awaitEventCount(4);
		assertThat(this.slots.inUse()).isEqualTo(slotsBefore + 1);
		assertThat(call.cancelled()).isFalse();

		StreamsClient.Observed<Released> cancel = this.client.cancelObserving(id,
				() -> new Released(this.slots.inUse(), call.cancelled(), call.closed()));

		assertThat(cancel.atArrival().slotsInUse()).isEqualTo(slotsBefore);
		assertThat(cancel.atArrival().upstreamCancelled()).isTrue();
		assertThat(cancel.atArrival().upstreamClosed()).isTrue();
		assertThat(cancel.reply().status()).isEqualTo(200);
		JsonNode answer = this.client.json(cancel.reply());
		assertThat(answer.get("status").asString()).isEqualTo("cancelled");
		assertThat(answer.get("finish_reason").asString()).isEqualTo("cancel_requested");
		assertThat(answer.get("cancelled_at").isNull()).isFalse();
		assertThat(answer.get("last_event_id").asLong()).isEqualTo(5);
		for (EventRecorder listener : List.of(first, second)) {
			listener.awaitCompletion();
			assertThat(listener.types()).containsExactly("stream.created", "stream.started", "token", "token",
					"stream.cancelled");
			assertThat(listener.ids()).containsExactly(1L, 2L, 3L, 4L, 5L);
			JsonNode last = this.client.data(listener.last());
			assertThat(last.get("status").asString()).isEqualTo("cancelled");
			assertThat(last.get("finish_reason").asString()).isEqualTo("cancel_requested");
		}
	}

	@Test
	void cancelIsIdempotent() {
		EventRecorder listener = this.client.open(CONTROLLED);
		String id = listener.streamId();
		this.controlled.nextCall(StreamsClient.TIMEOUT).token("once");
		listener.awaitEventCount(3);

		JsonNode first = this.client.cancel(id);
		JsonNode second = this.client.cancel(id);
		JsonNode third = this.client.cancel(id);

		assertThat(second).isEqualTo(first);
		assertThat(third).isEqualTo(first);
		assertThat(first.get("status").asString()).isEqualTo("cancelled");
		assertThat(first.get("finish_reason").asString()).isEqualTo("cancel_requested");
		assertThat(listener.awaitCompletion().types()).containsOnlyOnce("stream.cancelled");
		assertThat(this.client.replay(id)).extracting(ServerSentEvent::event).containsOnlyOnce("stream.cancelled");
	}

	@Test
	void cancellingACompletedStreamReturnsItCompletedAndChangesNothing() {
		EventRecorder listener = this.client.open("{\"prompt\":\"Quick\",\"max_tokens\":3}").awaitCompletion();
		String id = listener.streamId();

		JsonNode answer = this.client.cancel(id);

		assertThat(answer.get("status").asString()).isEqualTo("completed");
		assertThat(answer.get("finish_reason").asString()).isEqualTo("length");
		assertThat(answer.get("cancelled_at").isNull()).isTrue();
		assertThat(answer.get("last_event_id").asLong()).isEqualTo(6);
		assertThat(listener.last().event()).isEqualTo("stream.completed");
		assertThat(this.client.status(id)).isEqualTo(answer);
		assertThat(this.client.replay(id)).isEqualTo(listener.events());
	}

	@Test
	void cancelThenAttachReplaysTheStreamEndingWithCancelled() {
		EventRecorder listener = this.client.open(CONTROLLED);
		String id = listener.streamId();
		this.controlled.nextCall(StreamsClient.TIMEOUT).token("partial");
		listener.awaitEventCount(3);

		this.client.cancel(id);
		EventRecorder late = this.client.attach(id).awaitCompletion();

		assertThat(late.status()).isEqualTo(200);
		assertThat(late.types()).containsExactly("stream.created", "stream.started", "token", "stream.cancelled");
		assertThat(late.events()).isEqualTo(listener.awaitCompletion().events());
		JsonNode status = this.client.status(id);
		assertThat(status.get("status").asString()).isEqualTo("cancelled");
		assertThat(status.get("finish_reason").asString()).isEqualTo("cancel_requested");
	}

	@Test
	void cancelBeforeAnyListenerAttachedThenAttachReplaysCreatedAndCancelledWithoutAnUpstreamCall() {
		int upstreamCallsBefore = this.controlled.calls().size();
		String id = this.client.startAccepted(CONTROLLED);

		JsonNode answer = this.client.cancel(id);
		EventRecorder late = this.client.attach(id).awaitCompletion();

		assertThat(answer.get("status").asString()).isEqualTo("cancelled");
		assertThat(answer.get("finish_reason").asString()).isEqualTo("cancel_requested");
		assertThat(answer.get("started_at").isNull()).isTrue();
		assertThat(late.types()).containsExactly("stream.created", "stream.cancelled");
		assertThat(late.ids()).containsExactly(1L, 2L);
		assertThat(this.client.status(id).get("status").asString()).isEqualTo("cancelled");
		assertThat(this.controlled.calls()).hasSize(upstreamCallsBefore);
		assertThat(this.slots.inUse()).isZero();
	}

	@Test
	void cancelOfAnUnknownOrMalformedIdIsNotFound() {
		for (String id : List.of("str_00000000000000000000000000000000", "nonsense")) {
			StreamsClient.Reply reply = this.client.cancelReply(id);
			assertThat(reply.status()).isEqualTo(404);
			assertThat(reply.headers().getContentType().isCompatibleWith(MediaType.APPLICATION_PROBLEM_JSON)).isTrue();
			assertThat(this.client.json(reply).get("status").asInt()).isEqualTo(404);
		}
	}

}
