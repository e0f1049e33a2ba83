package dev.scalpel.stream;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.LongStream;

import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.http.MediaType;
import org.springframework.http.codec.ServerSentEvent;

import dev.scalpel.support.Await;
import dev.scalpel.support.EventRecorder;
import dev.scalpel.support.ScalpelTest;
import dev.scalpel.support.StreamsClient;
import dev.scalpel.support.FakeControlledTokenSource;
import dev.scalpel.upstream.ProviderProperties;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The life of a stream over real sockets: the event sequence of a completed stream and the SSE
 * format of its events, both finish reasons, the {@code 202} mode with a later attach, background
 * streams, and the list endpoint.
 */
@ScalpelTest
class StreamApiEndToEndTest extends ApiEndToEndTest {

	@Autowired
	ProviderProperties providers;

	@Test
	void completedStreamSendsCreatedStartedTokensAndCompletedLastWithConsecutiveIds() {
		int replyTokens = this.providers.simulated().replyTokens();
		EventRecorder stream = this.client.open("{\"prompt\":\"Tell me about scalpels\"}");
		String id = stream.streamId();
		stream.awaitCompletion();

		assertThat(stream.status()).isEqualTo(200);
		assertThat(stream.headers().getContentType().isCompatibleWith(MediaType.TEXT_EVENT_STREAM)).isTrue();
		assertThat(id).matches("str_[0-9a-f]{32}");
		List<String> types = stream.types();
		assertThat(types).hasSize(replyTokens + 3);
		assertThat(types.get(0)).isEqualTo("stream.created");
		assertThat(types.get(1)).isEqualTo("stream.started");
		assertThat(types.subList(2, types.size() - 1)).containsOnly("token");
		assertThat(types.get(types.size() - 1)).isEqualTo("stream.completed");
		assertThat(stream.ids()).isEqualTo(LongStream.rangeClosed(1, types.size()).boxed().toList());
		assertEveryDataIsOneLineOfJson(stream.events());

		JsonNode created = this.client.data(stream.events().get(0));
		assertThat(created.get("id").asString()).isEqualTo(id);
		assertThat(created.get("object").asString()).isEqualTo("stream");
		assertThat(created.get("model").asString()).isEqualTo("simulated");
		assertThat(created.get("status").asString()).isEqualTo("queued");
		assertThat(created.get("last_event_id").asLong()).isEqualTo(1);
		JsonNode started = this.client.data(stream.events().get(1));
		assertThat(started.get("status").asString()).isEqualTo("in_progress");
		assertThat(started.get("started_at").isNull()).isFalse();
		// The simulated model counts the prompt's tokens (its four words) at once, as API.md's example
		// of a stream in progress shows them; before the start nothing has counted them.
		assertThat(created.get("usage").get("input_tokens").isNull()).isTrue();
		assertThat(started.get("usage").get("input_tokens").asInt()).isEqualTo(4);
		for (ServerSentEvent<String> token : stream.events().subList(2, types.size() - 1)) {
			assertThat(this.client.data(token).get("text").isString()).isTrue();
		}
		JsonNode completed = this.client.data(stream.last());
		assertThat(completed.get("status").asString()).isEqualTo("completed");
		assertThat(completed.get("finish_reason").asString()).isEqualTo("stop");
		assertThat(completed.get("last_event_id").asLong()).isEqualTo(types.size());
		assertThat(completed.get("usage").get("output_tokens").asInt()).isEqualTo(replyTokens);
		assertThat(completed.get("usage").get("input_tokens").asInt()).isEqualTo(4);
		assertThat(completed.get("ended_at").isNull()).isFalse();
		assertThat(completed.get("cancelled_at").isNull()).isTrue();

		JsonNode status = this.client.status(id);
		assertThat(status.get("status").asString()).isEqualTo("completed");
		assertThat(status.get("last_event_id").asLong()).isEqualTo(types.size());
	}

	@Test
	void tokenTextOfAnyKindArrivesIntactAsOneLineOfJson() {
		List<String> texts = List.of("\"quoted\"", "back\\slash", "two\nlines", "\r\n", "tab\t", "\u0001\u001f",
				"ünïcödé", "😀 emoji", "</script>", "{\"json\":true}", " ", "\u2028\u2029");
		EventRecorder stream = this.client.open("{\"model\":\"controlled\",\"prompt\":\"Say odd things\"}");
		FakeControlledTokenSource.Call call = this.controlled.nextCall(StreamsClient.TIMEOUT);
		texts.forEach(call::token);
		call.finish("stop");

		stream.awaitCompletion();
		List<ServerSentEvent<String>> tokens = stream.events().stream().filter(event -> "token".equals(event.event())).toList();
		assertThat(tokens).extracting(event -> this.client.data(event).get("text").asString()).containsExactlyElementsOf(texts);
		assertThat(tokens).allSatisfy(event -> assertThat(event.data()).doesNotContain("\n").doesNotContain("\r"));
	}

	@Test
	void maxTokensBelowTheReplyLengthEndsWithFinishReasonLength() {
		EventRecorder stream = this.client.open("{\"prompt\":\"Be short\",\"max_tokens\":5}").awaitCompletion();

		assertThat(stream.types()).containsExactly("stream.created", "stream.started", "token", "token", "token",
				"token", "token", "stream.completed");
		JsonNode completed = this.client.data(stream.last());
		assertThat(completed.get("status").asString()).isEqualTo("completed");
		assertThat(completed.get("finish_reason").asString()).isEqualTo("length");
		assertThat(completed.get("usage").get("output_tokens").asInt()).isEqualTo(5);
	}

	@Test
	void maxTokensAtTheReplyLengthEndsWithFinishReasonStop() {
		int replyTokens = this.providers.simulated().replyTokens();
		EventRecorder stream = this.client.open("{\"prompt\":\"Be exact\",\"max_tokens\":" + replyTokens + "}")
			.awaitCompletion();

		assertThat(stream.types()).filteredOn("token"::equals).hasSize(replyTokens);
		assertThat(this.client.data(stream.last()).get("finish_reason").asString()).isEqualTo("stop");
	}

	@Test
	void tokenTextWithLineBreaksIsStillOneLineOfJson() {
		EventRecorder stream = this.client.open("{\"model\":\"controlled\",\"prompt\":\"Write a poem\"}");
		this.controlled.nextCall(StreamsClient.TIMEOUT).token("roses\nare\r\nred").finish("stop");
		stream.awaitCompletion();

		assertEveryDataIsOneLineOfJson(stream.events());
		assertThat(this.client.data(stream.events().get(2)).get("text").asString()).isEqualTo("roses\nare\r\nred");
	}

	@Test
	void startWithoutEventStreamAnswers202WithLocationAndWaitsForAListenerWithoutASlot() {
		long upstreamCallsBefore = this.simulated.started();
		StreamsClient.Reply reply = this.client.start("{\"prompt\":\"Later, please\"}");

		assertThat(reply.status()).isEqualTo(202);
		JsonNode body = this.client.json(reply);
		String id = body.get("id").asString();
		assertThat(reply.headers().getLocation()).hasToString("/v1/streams/" + id);
		assertThat(reply.headers().getFirst("X-Stream-Id")).isEqualTo(id);
		assertThat(reply.headers().getContentType().isCompatibleWith(MediaType.APPLICATION_JSON)).isTrue();
		assertThat(body.get("status").asString()).isEqualTo("queued");
		assertThat(body.get("background").asBoolean()).isFalse();
		assertThat(this.slots.inUse()).isZero();
		assertThat(this.client.status(id).get("status").asString()).isEqualTo("queued");
		assertThat(this.simulated.started()).isEqualTo(upstreamCallsBefore);

		EventRecorder attached = this.client.attach(reply.headers().getLocation() + "/events", headers -> {
		}).awaitCompletion();

		assertThat(attached.status()).isEqualTo(200);
		List<String> types = attached.types();
		assertThat(types.get(0)).isEqualTo("stream.created");
		assertThat(types.get(1)).isEqualTo("stream.started");
		assertThat(types.subList(2, types.size() - 1)).hasSize(this.providers.simulated().replyTokens())
			.containsOnly("token");
		assertThat(types.get(types.size() - 1)).isEqualTo("stream.completed");
		assertThat(attached.ids()).isEqualTo(LongStream.rangeClosed(1, types.size()).boxed().toList());
		assertThat(this.client.data(attached.events().get(0)).get("id").asString()).isEqualTo(id);
	}

	@Test
	void backgroundStreamRunsToCompletionWithoutAListenerAndReplaysAfterwards() {
		StreamsClient.Reply reply = this.client.start("{\"prompt\":\"In the background\",\"background\":true}");

		assertThat(reply.status()).isEqualTo(202);
		JsonNode body = this.client.json(reply);
		String id = body.get("id").asString();
		assertThat(body.get("background").asBoolean()).isTrue();
		Await.atMost(StreamsClient.TIMEOUT)
			.until(() -> "completed".equals(this.client.status(id).get("status").asString()));
		JsonNode status = this.client.status(id);
		assertThat(status.get("finish_reason").asString()).isEqualTo("stop");
		assertThat(status.get("usage").get("output_tokens").asInt())
			.isEqualTo(this.providers.simulated().replyTokens());

		List<ServerSentEvent<String>> replay = this.client.replay(id);
		assertThat(replay).hasSize(this.providers.simulated().replyTokens() + 3);
		assertThat(replay.get(0).event()).isEqualTo("stream.created");
		assertThat(replay.get(1).event()).isEqualTo("stream.started");
		assertThat(replay.get(replay.size() - 1).event()).isEqualTo("stream.completed");
		assertThat(replay).extracting(ServerSentEvent::id)
			.isEqualTo(LongStream.rangeClosed(1, replay.size()).mapToObj(Long::toString).toList());
		assertThat(this.client.replay(id)).isEqualTo(replay);
	}

	@Test
	void listShowsNewestFirstFiltersByStatusAndPagesWithHasMore() {
		String oldest = this.client.startAccepted("{\"model\":\"controlled\",\"prompt\":\"one\"}");
		String middle = this.client.startAccepted("{\"model\":\"controlled\",\"prompt\":\"two\"}");
		String newest = this.client.startAccepted("{\"model\":\"controlled\",\"prompt\":\"three\"}");
		this.client.cancel(middle);

		JsonNode all = this.client.json(this.client.get("/v1/streams"));
		assertThat(all.get("object").asString()).isEqualTo("list");
		assertThat(ids(all).subList(0, 3)).containsExactly(newest, middle, oldest);

		JsonNode queued = this.client.json(this.client.get("/v1/streams?status=queued&limit=100"));
		assertThat(ids(queued)).contains(newest, oldest).doesNotContain(middle);
		assertThat(queued.get("data")).allSatisfy(stream -> assertThat(stream.get("status").asString()).isEqualTo("queued"));
		JsonNode cancelled = this.client.json(this.client.get("/v1/streams?status=cancelled&limit=100"));
		assertThat(ids(cancelled)).contains(middle).doesNotContain(newest, oldest);
		assertThat(cancelled.get("data"))
			.allSatisfy(stream -> assertThat(stream.get("status").asString()).isEqualTo("cancelled"));

		JsonNode first = this.client.json(this.client.get("/v1/streams?limit=2"));
		assertThat(ids(first)).containsExactly(newest, middle);
		assertThat(first.get("has_more").asBoolean()).isTrue();
		JsonNode second = this.client.json(this.client.get("/v1/streams?limit=2&after=" + middle));
		assertThat(ids(second).get(0)).isEqualTo(oldest);
		JsonNode last = this.client.json(this.client.get("/v1/streams?limit=1&after=" + newest + "&status=queued"));
		assertThat(ids(last)).containsExactly(oldest);

		List<String> walked = walkAllPages(2);
		assertThat(walked).containsSubsequence(newest, middle, oldest);
		assertThat(new HashSet<>(walked)).hasSameSizeAs(walked);
	}

	@Test
	void listPagesTwentyStreamsWithoutALimit() {
		List<String> started = new ArrayList<>();
		for (int i = 0; i < 21; i++) {
			started.add(this.client.startAccepted("{\"model\":\"controlled\",\"prompt\":\"page " + i + "\"}"));
		}

		List<String> newestFirst = new ArrayList<>(started);
		Collections.reverse(newestFirst);

		JsonNode page = this.client.json(this.client.get("/v1/streams"));
		assertThat(ids(page)).containsExactlyElementsOf(newestFirst.subList(0, 20));
		assertThat(page.get("has_more").asBoolean()).isTrue();
		started.forEach(this.client::cancel);
	}

	@Test
	void listRefusesAnUnknownStatusAndAnOutOfRangeLimit() {
		StreamsClient.Reply status = this.client.get("/v1/streams?status=sleeping");
		assertThat(status.status()).isEqualTo(400);
		assertThat(status.headers().getContentType().isCompatibleWith(MediaType.APPLICATION_PROBLEM_JSON)).isTrue();
		assertThat(this.client.get("/v1/streams?limit=0").status()).isEqualTo(400);
		assertThat(this.client.get("/v1/streams?limit=101").status()).isEqualTo(400);
	}

	/** Follows the {@code after} cursor to the last page; every full page says has_more. */
	private List<String> walkAllPages(int limit) {
		List<String> walked = new ArrayList<>();
		List<String> createdAt = new ArrayList<>();
		String uri = "/v1/streams?limit=" + limit;
		for (int page = 0; page < 1000; page++) {
			JsonNode body = this.client.json(this.client.get(uri));
			List<String> ids = ids(body);
			walked.addAll(ids);
			body.get("data").forEach(stream -> createdAt.add(stream.get("created_at").asString()));
			if (!body.get("has_more").asBoolean()) {
				assertThat(ids).hasSizeLessThanOrEqualTo(limit);
				assertThat(createdAt).isSortedAccordingTo((a, b) -> b.compareTo(a));
				return walked;
			}
			assertThat(ids).hasSize(limit);
			uri = "/v1/streams?limit=" + limit + "&after=" + ids.get(ids.size() - 1);
		}
		throw new AssertionError("has_more never became false");
	}

	private static List<String> ids(JsonNode page) {
		List<String> ids = new ArrayList<>();
		page.get("data").forEach(stream -> ids.add(stream.get("id").asString()));
		return ids;
	}

	private void assertEveryDataIsOneLineOfJson(List<ServerSentEvent<String>> events) {
		Set<Long> seen = new HashSet<>();
		for (ServerSentEvent<String> event : events) {
			assertThat(event.event()).isNotBlank();
			assertThat(seen.add(Long.parseLong(event.id()))).isTrue();
			assertThat(event.data()).doesNotContain("\n").doesNotContain("\r");
			assertThat(this.client.data(event).isObject()).as(event.data()).isTrue();
		}
	}

}
