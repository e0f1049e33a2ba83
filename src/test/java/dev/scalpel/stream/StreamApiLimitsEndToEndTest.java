package dev.scalpel.stream;

import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.LongStream;

import org.junit.jupiter.api.Test;
import reactor.core.Disposable;
import tools.jackson.databind.JsonNode;

import org.springframework.http.MediaType;
import org.springframework.http.codec.ServerSentEvent;

import dev.scalpel.support.Await;
import dev.scalpel.support.EventRecorder;
import dev.scalpel.support.ScalpelTest;
import dev.scalpel.support.StreamsClient;
import dev.scalpel.support.FakeControlledTokenSource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The time and size bounds of streams, set small: keep-alive comments on a quiet event stream,
 * retention of terminal streams (findable until it passes, {@code 404} after), and the bounded replay
 * buffer ({@code 410} for a position older than the retained events; a listener that falls behind it
 * is dropped, but its stream goes on and its client can follow it again).
 */
@ScalpelTest(properties = { "scalpel.streams.heartbeat-interval=100ms", "scalpel.streams.retention=300ms",
		"scalpel.streams.max-events=16" })
class StreamApiLimitsEndToEndTest extends ApiEndToEndTest {

	private static final Duration RETENTION = Duration.ofMillis(300);

	private static final int MAX_EVENTS = 16;

	@Test
	void quietStreamCarriesKeepAliveCommentsWithoutIdsUntilItEnds() {
		EventRecorder listener = this.client.open("{\"model\":\"controlled\",\"prompt\":\"Think first\"}");
		String id = listener.streamId();
		FakeControlledTokenSource.Call call = this.controlled.nextCall(StreamsClient.TIMEOUT);
		listener.awaitEvent("stream.started");
		List<String> raw = new CopyOnWriteArrayList<>();
		AtomicBoolean rawDone = new AtomicBoolean();
		Disposable rawReader = this.client.rawEvents(id).subscribe(raw::add, failure -> rawDone.set(true),
				() -> rawDone.set(true));

		Await.atMost(StreamsClient.TIMEOUT).until(() -> listener.comments().size() >= 3);
		Await.atMost(StreamsClient.TIMEOUT).until(() -> String.join("", raw).contains(": keep-alive"));

		assertThat(listener.comments()).allSatisfy(comment -> {
			assertThat(comment.comment()).isEqualTo("keep-alive");
			assertThat(comment.id()).isNull();
			assertThat(comment.event()).isNull();
			assertThat(comment.data()).isNull();
		});
		assertThat(listener.types()).containsExactly("stream.created", "stream.started");
		// A live stream is not subject to retention, however long it runs.
		assertThat(this.client.status(id).get("status").asString()).isEqualTo("in_progress");

		call.token("Done").finish("stop");
		listener.awaitCompletion();
		Await.atMost(StreamsClient.TIMEOUT).untilTrue(rawDone);
		rawReader.dispose();

		assertThat(listener.ids()).containsExactly(1L, 2L, 3L, 4L);
		List<String> blocks = Arrays.stream(String.join("", raw).split("\n\n")).filter(block -> !block.isBlank()).toList();
		assertThat(blocks).filteredOn(block -> block.startsWith(":")).isNotEmpty().containsOnly(": keep-alive");
		assertThat(blocks).filteredOn(block -> !block.startsWith(":"))
			.hasSize(4)
			.allSatisfy(block -> assertThat(block.lines().filter(line -> line.startsWith("id:"))).hasSize(1))
			.allSatisfy(block -> assertThat(block.lines().filter(line -> line.startsWith("data:"))).hasSize(1));
	}

	@Test
	void completedStreamAnswersStatusAndReplayUntilItsRetentionPassesThenNotFound() {
		EventRecorder listener = this.client.open("{\"model\":\"controlled\",\"prompt\":\"Brief\"}");
		String id = listener.streamId();
		this.controlled.nextCall(StreamsClient.TIMEOUT).token("Hi").finish("stop");
		Instant endedAt = Instant.parse(this.client.data(listener.awaitCompletion().last()).get("ended_at").asString());

		assertFindableUntilRetentionPassesThenGone(id, endedAt, "completed", "stream.completed");
		assertThat(this.client.cancelReply(id).status()).isEqualTo(404);
		assertThat(this.client.json(this.client.get("/v1/streams?limit=100")).get("data"))
			.noneSatisfy(stream -> assertThat(stream.get("id").asString()).isEqualTo(id));
	}

	@Test
	void cancelledStreamAnswersStatusAndReplayUntilItsRetentionPassesThenNotFound() {
		String id = this.client.startAccepted("{\"model\":\"controlled\",\"prompt\":\"Never mind\"}");

		Instant endedAt = Instant.parse(this.client.cancel(id).get("ended_at").asString());

		assertFindableUntilRetentionPassesThenGone(id, endedAt, "cancelled", "stream.cancelled");
	}

	/**
	 * Asks for the status and the replay of a terminal stream until both answer {@code 404}. Every
	 * answer before that is the stream (its status, and a replay that ends with its terminal event),
	 * and no {@code 404} may arrive before the retention has passed since the stream ended. The time an
	 * answer arrived bounds the time the server decided it, so this holds on a slow machine too; on one
	 * that is not starved the first answers come well within the retention and must find the stream.
	 */
	private void assertFindableUntilRetentionPassesThenGone(String id, Instant endedAt, String status,
			String terminalEvent) {
		Await.atMost(Duration.ofSeconds(3)).until(() -> {
			StreamsClient.Reply statusReply = this.client.get("/v1/streams/" + id);
			StreamsClient.Reply replay = this.client.getEvents(id);
			Instant answered = Instant.now();
			for (StreamsClient.Reply reply : List.of(statusReply, replay)) {
				if (reply.status() == 404) {
					assertThat(answered).as("a 404 for " + id).isAfterOrEqualTo(endedAt.plus(RETENTION));
					assertThat(reply.headers().getContentType().isCompatibleWith(MediaType.APPLICATION_PROBLEM_JSON))
						.isTrue();
				}
			}
			if (statusReply.status() == 200) {
				assertThat(this.client.json(statusReply).get("status").asString()).isEqualTo(status);
			}
			if (replay.status() == 200) {
				assertThat(eventTypes(replay.body())).startsWith("stream.created").endsWith(terminalEvent);
			}
			return statusReply.status() == 404 && replay.status() == 404;
		});
	}

	/** The {@code event:} lines of an SSE body, in order. */
	private static List<String> eventTypes(String sse) {
		return sse.lines()
			.filter(line -> line.startsWith("event:"))
			.map(line -> line.substring("event:".length()).strip())
			.toList();
	}

	@Test
	void listenerDroppedForFallingBehindDoesNotCancelTheStreamAndItsClientCanFollowItAgain() {
		// Reads the first two entries and then nothing, with its connection open: a slow client.
		EventRecorder slow = this.client.open("{\"model\":\"controlled\",\"prompt\":\"Read slowly\"}", 2);
		String id = slow.streamId();
		FakeControlledTokenSource.Call call = this.controlled.nextCall(StreamsClient.TIMEOUT);
		String kilobyte = "x".repeat(1024);
		// Far more than the socket buffers between server and client hold: the listener falls behind the
		// retained events and the server drops it, which is no reason to end the stream.
		for (int i = 0; i < 20_000 && !call.closed(); i++) {
			call.token(kilobyte);
		}

		assertThat(call.closed()).as("upstream call closed").isFalse();
		JsonNode status = this.client.status(id);
		assertThat(status.get("status").asString()).isEqualTo("in_progress");
		assertThat(status.get("finish_reason").isNull()).isTrue();

		slow.readOn().awaitCompletion(Duration.ofSeconds(10));
		assertThat(slow.types()).as("the dropped listener's events")
			.doesNotContain("stream.completed", "stream.failed", "stream.cancelled");
		assertThat(slow.ids()).isEqualTo(LongStream.rangeClosed(1, slow.ids().size()).boxed().toList());
		EventRecorder back = this.client.resumeAfter(id, this.client.status(id).get("last_event_id").asLong());
		assertThat(back.status()).isEqualTo(200);
		call.token("The end").finish("stop");
		back.awaitCompletion();
		assertThat(back.types()).containsExactly("token", "stream.completed");
		assertThat(this.client.data(back.last()).get("finish_reason").asString()).isEqualTo("stop");
	}

	@Test
	void positionOlderThanTheRetainedEventsIsGoneAndTheOldestRetainedPositionReplaysThenFollows() {
		String id = this.client.startAccepted("{\"model\":\"controlled\",\"prompt\":\"Go long\",\"background\":true}");
		FakeControlledTokenSource.Call call = this.controlled.nextCall(StreamsClient.TIMEOUT);
		int tokens = 20;
		for (int i = 0; i < tokens; i++) {
			call.token("t" + i);
		}
		long newest = tokens + 2;
		long oldestRetained = newest - MAX_EVENTS + 1;
		Await.atMost(StreamsClient.TIMEOUT).until(() -> this.client.status(id).get("last_event_id").asLong() == newest);

		for (EventRecorder tooOld : List.of(this.client.resumeAfter(id, oldestRetained - 2),
				this.client.resumeWithLastEventId(id, oldestRetained - 2), this.client.attach(id))) {
			assertThat(tooOld.awaitCompletion().status()).isEqualTo(410);
			assertThat(tooOld.headers().getContentType().isCompatibleWith(MediaType.APPLICATION_PROBLEM_JSON)).isTrue();
			JsonNode problem = this.client.json(tooOld.problem());
			assertThat(problem.get("status").asInt()).isEqualTo(410);
			assertThat(problem.get("type").asString()).endsWith("/events_expired");
			assertThat(problem.get("title").asString()).isNotBlank();
			assertThat(problem.get("detail").asString()).isNotBlank();
			assertThat(tooOld.events()).isEmpty();
		}

		EventRecorder resumed = this.client.resumeAfter(id, oldestRetained - 1).awaitEventCount(MAX_EVENTS);
		assertThat(resumed.ids()).isEqualTo(LongStream.rangeClosed(oldestRetained, newest).boxed().toList());
		call.finish("stop");
		resumed.awaitCompletion();
		assertThat(resumed.ids()).isEqualTo(LongStream.rangeClosed(oldestRetained, newest + 1).boxed().toList());
		assertThat(resumed.last().event()).isEqualTo("stream.completed");
	}

}
