package dev.scalpel.stream;

import java.util.List;
import java.util.function.BiFunction;

import org.junit.jupiter.api.Test;

import org.springframework.http.codec.ServerSentEvent;

import dev.scalpel.support.EventRecorder;
import dev.scalpel.support.ScalpelTest;
import dev.scalpel.support.StreamsClient;
import dev.scalpel.support.FakeControlledTokenSource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Resuming and sharing a stream over real sockets: {@code Last-Event-ID} and {@code ?after=} give
 * exactly the events after that position and then the live ones up to the terminal event; several
 * listeners of one stream get the same events, and a late joiner gets the replay, then live ones.
 */
@ScalpelTest
class StreamApiResumeEndToEndTest extends ApiEndToEndTest {

	private static final String CONTROLLED = "{\"model\":\"controlled\",\"prompt\":\"Count to ten\"}";

	@Test
	void resumeWithLastEventIdGetsTheLaterEventsThenLiveOnesToTheTerminalEvent() {
		resumeFromThirdEvent(this.client::resumeWithLastEventId);
	}

	@Test
	void resumeWithAfterParameterGetsTheLaterEventsThenLiveOnesToTheTerminalEvent() {
		resumeFromThirdEvent(this.client::resumeAfter);
	}

	/** Events 1 to 5 exist (created, started, three tokens); resuming after 3 must give 4, 5, then live. */
	private void resumeFromThirdEvent(BiFunction<String, Long, EventRecorder> resume) {
		EventRecorder first = this.client.open(CONTROLLED);
		String id = first.streamId();
		FakeControlledTokenSource.Call call = this.controlled.nextCall(StreamsClient.TIMEOUT);
		call.token("one").token(" two").token(" three");
		first.awaitEventCount(5);

		EventRecorder resumed = resume.apply(id, 3L).awaitEventCount(2);

		assertThat(resumed.status()).isEqualTo(200);
		assertThat(resumed.ids()).containsExactly(4L, 5L);
		call.token(" four").finish("stop");
		resumed.awaitCompletion();
		assertThat(resumed.ids()).containsExactly(4L, 5L, 6L, 7L);
		assertThat(resumed.types()).containsExactly("token", "token", "token", "stream.completed");
		assertThat(resumed.events()).isEqualTo(first.awaitCompletion().events().subList(3, 7));
	}

	@Test
	void resumeAfterTheTerminalEventEndsAtOnceWithoutEvents() {
		EventRecorder first = this.client.open("{\"prompt\":\"Short\",\"max_tokens\":2}").awaitCompletion();
		long terminal = first.ids().get(first.ids().size() - 1);

		EventRecorder resumed = this.client.resumeWithLastEventId(first.streamId(), terminal).awaitCompletion();

		assertThat(resumed.status()).isEqualTo(200);
		assertThat(resumed.events()).isEmpty();
	}

	@Test
	void resumeFromTheTerminalStreamsMiddleReplaysTheRestEndingWithTheTerminalEvent() {
		EventRecorder first = this.client.open("{\"prompt\":\"Short\",\"max_tokens\":4}").awaitCompletion();

		EventRecorder resumed = this.client.resumeAfter(first.streamId(), 2).awaitCompletion();

		assertThat(resumed.events()).isEqualTo(first.events().subList(2, first.events().size()));
		assertThat(resumed.last().event()).isEqualTo("stream.completed");
	}

	@Test
	void resumeFromAPositionBeyondTheNewestEventIsABadRequest() {
		EventRecorder first = this.client.open(CONTROLLED);
		this.controlled.nextCall(StreamsClient.TIMEOUT);
		first.awaitEventCount(2);

		EventRecorder resumed = this.client.resumeAfter(first.streamId(), 99).awaitCompletion();

		assertThat(resumed.status()).isEqualTo(400);
		assertThat(this.client.json(resumed.problem()).get("status").asInt()).isEqualTo(400);
	}

	@Test
	void severalListenersGetTheSameEventsAndALateJoinerGetsTheReplayThenLiveOnes() {
		EventRecorder opener = this.client.open(CONTROLLED);
		String id = opener.streamId();
		FakeControlledTokenSource.Call call = this.controlled.nextCall(StreamsClient.TIMEOUT);
		opener.awaitEventCount(2);
		EventRecorder early = this.client.attach(id).awaitEventCount(2);
		call.token("a").token("b");
		opener.awaitEventCount(4);
		early.awaitEventCount(4);

		EventRecorder late = this.client.attach(id).awaitEventCount(4);
		assertThat(late.ids()).as("the replay").containsExactly(1L, 2L, 3L, 4L);
		call.token("c");
		late.awaitEventCount(5);
		assertThat(late.ids()).as("the replay, then a live event").containsExactly(1L, 2L, 3L, 4L, 5L);
		call.token("d").finish("stop");

		List<ServerSentEvent<String>> expected = opener.awaitCompletion().events();
		assertThat(expected).extracting(ServerSentEvent::event)
			.containsExactly("stream.created", "stream.started", "token", "token", "token", "token",
					"stream.completed");
		assertThat(early.awaitCompletion().events()).isEqualTo(expected);
		assertThat(late.awaitCompletion().events()).isEqualTo(expected);
		assertThat(this.client.replay(id)).isEqualTo(expected);
	}

}
