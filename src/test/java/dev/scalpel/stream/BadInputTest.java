package dev.scalpel.stream;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.core.ParameterizedTypeReference;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DefaultDataBufferFactory;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.http.MediaType;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.test.web.reactive.server.EntityExchangeResult;
import org.springframework.test.web.reactive.server.WebTestClient;
import org.springframework.web.reactive.function.BodyInserters;

import dev.scalpel.slot.SlotPool;
import dev.scalpel.support.ScalpelTest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Proves that every malformed request to the native API (all five endpoints, plus wrong methods and
 * paths) is refused with the right 4xx and an RFC 9457 problem detail: a Scalpel {@code type}, a
 * {@code title}, a {@code status} equal to the HTTP status, a non-empty {@code detail}, an
 * {@code errors} array naming the field at fault, and no class names or stack traces. It also proves
 * that a refused request changes nothing (no stream listed, no slot held, nobody queued), and that
 * the service still runs a normal stream to completion after all of them.
 *
 * <p>The limits are set small so that the size cases stay fast.
 */
@ScalpelTest(properties = { "scalpel.limits.max-body-size=2KB", "scalpel.limits.max-tokens=100",
		"scalpel.limits.max-messages=4", "scalpel.limits.max-prompt-chars=256", "scalpel.limits.max-json-depth=8" })
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class BadInputTest {

	static final int MAX_BODY = 2048;

	static final int MAX_TOKENS = 100;

	static final int MAX_MESSAGES = 4;

	static final int MAX_PROMPT_CHARS = 256;

	static final int MAX_JSON_DEPTH = 8;

	/** Replaced in a case's path by the id of a real, completed stream. */
	static final String EXISTING = "{existing}";

	/** Well-formed, but names no stream. */
	static final String UNKNOWN_ID = "str_0123456789abcdef0123456789abcdef";

	static final String PROBLEM_BASE = "https://scalpel.dev/problems/";

	static final Duration TIMEOUT = Duration.ofSeconds(10);

	/** What must never appear in an error body: class names, Jackson's own messages, stack frames. */
	static final List<String> LEAKS = List.of("java.", "javax.", "jakarta.", "tools.jackson", "com.fasterxml",
			"org.springframework", "reactor.", "io.netty", "dev.scalpel", "Exception", "at dev.", "\tat ", "Caused by",
			"\"trace\"", "Source:", "Cannot deserialize", "Cannot construct", "Unexpected character", "line: ",
			"column: ");

	/** The id of a completed background stream, made once for the cases that need a real stream. */
	static volatile @Nullable String existingId;

	@Autowired
	WebTestClient http;

	@Autowired
	SlotPool slots;

	@Autowired
	JsonMapper json;

	@LocalServerPort
	int port;

	@BeforeEach
	void boundWaits() {
		this.http = this.http.mutate().responseTimeout(TIMEOUT).build();
	}

	/** A malformed request and the problem it must be answered with. */
	record Case(String name, HttpMethod method, String path, Map<String, String> headers, byte @Nullable [] body,
			boolean chunked, int status, String slug, @Nullable String field) {

		@Override
		public String toString() {
			return this.name;
		}

	}

	static Stream<Case> badRequests() {
		List<Case> cases = new ArrayList<>();

		// POST /v1/streams: the body is not one well-formed JSON object
		cases.add(start("malformed JSON", "{\"prompt\":", 400, "invalid_request", null));
		cases.add(start("single-quoted JSON", "{'prompt':'hi'}", 400, "invalid_request", null));
		cases.add(start("trailing comma", "{\"prompt\":\"hi\",}", 400, "invalid_request", null));
		cases.add(start("empty body", "", 400, "invalid_request", null));
		cases.add(start("JSON null", "null", 400, "invalid_request", null));
		cases.add(start("JSON array instead of object", "[{\"prompt\":\"hi\"}]", 400, "invalid_request", null));
		cases.add(start("JSON string instead of object", "\"hi\"", 400, "invalid_request", null));
		cases.add(start("trailing garbage", "{\"prompt\":\"hi\"} x", 400, "invalid_request", null));
		cases.add(start("second JSON document", "{\"prompt\":\"hi\"}{\"prompt\":\"again\"}", 400, "invalid_request",
				null));
		cases.add(new Case("invalid UTF-8", HttpMethod.POST, "/v1/streams", json(), invalidUtf8(), false, 400,
				"invalid_request", null));

		// POST /v1/streams: wrong types, field by field
		cases.add(start("model as number", "{\"model\":42,\"prompt\":\"hi\"}", 400, "invalid_request", "model"));
		cases.add(start("prompt as number", "{\"prompt\":42}", 400, "invalid_request", "prompt"));
		cases.add(start("prompt as boolean", "{\"prompt\":true}", 400, "invalid_request", "prompt"));
		cases.add(start("prompt as array", "{\"prompt\":[\"hi\"]}", 400, "invalid_request", "prompt"));
		cases.add(start("messages as object", "{\"messages\":{\"role\":\"user\",\"content\":\"hi\"}}", 400,
				"invalid_request", "messages"));
		cases.add(start("messages as string", "{\"messages\":\"hi\"}", 400, "invalid_request", "messages"));
		cases.add(start("message as string", "{\"messages\":[\"hi\"]}", 400, "invalid_request", "messages[0]"));
		cases.add(start("message null", "{\"messages\":[null]}", 400, "invalid_request", "messages[0]"));
		cases.add(start("message role invalid", "{\"messages\":[{\"role\":\"tool\",\"content\":\"hi\"}]}", 400,
				"invalid_request", "messages[0].role"));
		cases.add(start("message role missing", "{\"messages\":[{\"content\":\"hi\"}]}", 400, "invalid_request",
				"messages[0].role"));
		cases.add(start("second message role invalid",
				"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"User\",\"content\":\"ho\"}]}", 400,
				"invalid_request", "messages[1].role"));
		cases.add(start("message content as number", "{\"messages\":[{\"role\":\"user\",\"content\":42}]}", 400,
				"invalid_request", "messages[0].content"));
		cases.add(start("message content as object", "{\"messages\":[{\"role\":\"user\",\"content\":{}}]}", 400,
				"invalid_request", "messages[0].content"));
		cases.add(start("message content missing", "{\"messages\":[{\"role\":\"user\"}]}", 400, "invalid_request",
				"messages[0].content"));
		cases.add(start("max_tokens as string", "{\"prompt\":\"hi\",\"max_tokens\":\"5\"}", 400, "invalid_request",
				"max_tokens"));
		cases.add(start("max_tokens 1.5", "{\"prompt\":\"hi\",\"max_tokens\":1.5}", 400, "invalid_request",
				"max_tokens"));
		cases.add(start("max_tokens beyond a 32-bit int", "{\"prompt\":\"hi\",\"max_tokens\":99999999999}", 400,
				"invalid_request", "max_tokens"));
		cases.add(start("temperature as string", "{\"prompt\":\"hi\",\"temperature\":\"0.5\"}", 400,
				"invalid_request", "temperature"));
		cases.add(start("background \"yes\"", "{\"prompt\":\"hi\",\"background\":\"yes\"}", 400, "invalid_request",
				"background"));
		cases.add(start("background 1", "{\"prompt\":\"hi\",\"background\":1}", 400, "invalid_request",
				"background"));
		cases.add(start("metadata as array", "{\"prompt\":\"hi\",\"metadata\":[\"a\"]}", 400, "invalid_request",
				"metadata"));
		cases.add(start("metadata value a number", "{\"prompt\":\"hi\",\"metadata\":{\"user_id\":42}}", 400,
				"invalid_request", "metadata.user_id"));
		cases.add(start("metadata value null", "{\"prompt\":\"hi\",\"metadata\":{\"user_id\":null}}", 400,
				"invalid_request", "metadata.user_id"));
		cases.add(start("metadata value an object", "{\"prompt\":\"hi\",\"metadata\":{\"user_id\":{}}}", 400,
				"invalid_request", "metadata.user_id"));

		// POST /v1/streams: well-typed but out of the contract
		cases.add(start("messages and prompt",
				"{\"prompt\":\"hi\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 400, "invalid_request",
				"messages"));
		cases.add(start("neither messages nor prompt", "{\"max_tokens\":10}", 400, "invalid_request", "messages"));
		cases.add(start("empty object", "{}", 400, "invalid_request", "messages"));
		cases.add(start("empty messages", "{\"messages\":[]}", 400, "invalid_request", "messages"));
		cases.add(start("empty prompt", "{\"prompt\":\"\"}", 400, "invalid_request", "prompt"));
		cases.add(start("blank prompt", "{\"prompt\":\" \\n\\t \"}", 400, "invalid_request", "prompt"));
		cases.add(start("max_tokens 0", "{\"prompt\":\"hi\",\"max_tokens\":0}", 400, "invalid_request",
				"max_tokens"));
		cases.add(start("max_tokens negative", "{\"prompt\":\"hi\",\"max_tokens\":-1}", 400, "invalid_request",
				"max_tokens"));
		cases.add(start("max_tokens over the limit", "{\"prompt\":\"hi\",\"max_tokens\":" + (MAX_TOKENS + 1) + "}",
				400, "invalid_request", "max_tokens"));
		cases.add(start("temperature -0.1", "{\"prompt\":\"hi\",\"temperature\":-0.1}", 400, "invalid_request",
				"temperature"));
		cases.add(start("temperature 2.5", "{\"prompt\":\"hi\",\"temperature\":2.5}", 400, "invalid_request",
				"temperature"));
		cases.add(start("temperature overflowing to infinity", "{\"prompt\":\"hi\",\"temperature\":1e400}", 400,
				"invalid_request", "temperature"));
		cases.add(start("temperature NaN", "{\"prompt\":\"hi\",\"temperature\":NaN}", 400, "invalid_request", null));
		cases.add(start("metadata with 17 entries", "{\"prompt\":\"hi\",\"metadata\":" + metadata(17) + "}", 400,
				"invalid_request", "metadata"));
		cases.add(start("metadata key of 65 chars",
				"{\"prompt\":\"hi\",\"metadata\":{\"" + "k".repeat(65) + "\":\"v\"}}", 400, "invalid_request",
				"metadata"));
		cases.add(start("metadata key empty", "{\"prompt\":\"hi\",\"metadata\":{\"\":\"v\"}}", 400, "invalid_request",
				"metadata"));
		cases.add(start("metadata value of 513 chars",
				"{\"prompt\":\"hi\",\"metadata\":{\"note\":\"" + "v".repeat(513) + "\"}}", 400, "invalid_request",
				"metadata.note"));
		cases.add(start("model empty", "{\"model\":\"\",\"prompt\":\"hi\"}", 400, "invalid_request", "model"));
		cases.add(start("model name of 257 chars", "{\"model\":\"" + "m".repeat(257) + "\",\"prompt\":\"hi\"}", 400,
				"invalid_request", "model"));
		cases.add(start("unknown model", "{\"model\":\"no-such-model\",\"prompt\":\"hi\"}", 404, "model_not_found",
				"model"));
		cases.add(start("unknown endpoint prefix", "{\"model\":\"nowhere/simulated\",\"prompt\":\"hi\"}", 404,
				"model_not_found", "model"));

		// POST /v1/streams: size and read limits
		cases.add(start("too many messages", "{\"messages\":" + messages(MAX_MESSAGES + 1, "hi") + "}", 413,
				"payload_too_large", "messages"));
		cases.add(start("prompt over max-prompt-chars",
				"{\"prompt\":\"" + "p".repeat(MAX_PROMPT_CHARS + 1) + "\"}", 413, "payload_too_large", "prompt"));
		cases.add(start("messages over max-prompt-chars in total",
				"{\"messages\":" + messages(2, "c".repeat(MAX_PROMPT_CHARS / 2 + 1)) + "}", 413, "payload_too_large",
				"messages"));
		String tooBig = "{\"prompt\":\"hi\",\"padding\":\"" + "x".repeat(MAX_BODY) + "\"}";
		cases.add(start("body over max-body-size (Content-Length)", tooBig, 413, "payload_too_large", null));
		cases.add(new Case("body over max-body-size (chunked)", HttpMethod.POST, "/v1/streams", json(), utf8(tooBig),
				true, 413, "payload_too_large", null));
		cases.add(start("JSON deeper than max-json-depth",
				"{\"prompt\":\"hi\",\"metadata\":" + nested(MAX_JSON_DEPTH + 1) + "}", 400, "invalid_request", null));
		cases.add(start("deep JSON in an ignored field",
				"{\"extra\":" + "[".repeat(MAX_JSON_DEPTH + 1) + "]".repeat(MAX_JSON_DEPTH + 1) + ",\"prompt\":\"hi\"}",
				400, "invalid_request", null));
		cases.add(start("over-long number literal", "{\"prompt\":\"hi\",\"max_tokens\":1" + "0".repeat(80) + "}", 400,
				"invalid_request", null));
		cases.add(start("over-long property name", "{\"" + "n".repeat(1100) + "\":1,\"prompt\":\"hi\"}", 400,
				"invalid_request", null));

		// POST /v1/streams: content type and Accept
		cases.add(start("Content-Type text/plain", Map.of(HttpHeaders.CONTENT_TYPE, "text/plain"),
				"{\"prompt\":\"hi\"}", 415, "unsupported_media_type", null));
		cases.add(start("Content-Type form", Map.of(HttpHeaders.CONTENT_TYPE, "application/x-www-form-urlencoded"),
				"prompt=hi", 415, "unsupported_media_type", null));
		cases.add(start("no Content-Type", Map.of(), "{\"prompt\":\"hi\"}", 415, "unsupported_media_type", null));
		cases.add(start("unparseable Content-Type", Map.of(HttpHeaders.CONTENT_TYPE, ";;;"), "{\"prompt\":\"hi\"}",
				415, "unsupported_media_type", null));
		cases.add(start("Content-Type with unknown charset",
				Map.of(HttpHeaders.CONTENT_TYPE, "application/json; charset=no-such-charset"), "{\"prompt\":\"hi\"}",
				415, "unsupported_media_type", null));
		cases.add(start("malformed Accept",
				Map.of(HttpHeaders.CONTENT_TYPE, "application/json", HttpHeaders.ACCEPT, "text/event-stream;;q=x/"),
				"{\"prompt\":\"hi\"}", 400, "invalid_request", "Accept"));
		// Found by the hostile-input property test: Spring parses at most 50 media types and threw
		// while matching the request to a handler (a 500).
		String manyTypes = String.join(", ", java.util.Collections.nCopies(60, "*/*"));
		cases.add(start("Accept of 60 media types",
				Map.of(HttpHeaders.CONTENT_TYPE, "application/json", HttpHeaders.ACCEPT, manyTypes), "{\"prompt\":\"hi\"}",
				400, "invalid_request", "Accept"));
		cases.add(call("list with an Accept of 60 media types", HttpMethod.GET, "/v1/streams",
				Map.of(HttpHeaders.ACCEPT, manyTypes), 400, "invalid_request", "Accept"));
		cases.add(start("invalid body with Accept: text/event-stream",
				Map.of(HttpHeaders.CONTENT_TYPE, "application/json", HttpHeaders.ACCEPT, "text/event-stream"),
				"{\"prompt\":\"\"}", 400, "invalid_request", "prompt"));

		// GET /v1/streams/{id}/events
		String events = "/v1/streams/" + EXISTING + "/events";
		cases.add(call("Last-Event-ID not a number", HttpMethod.GET, events, Map.of("Last-Event-ID", "abc"), 400,
				"invalid_request", "Last-Event-ID"));
		cases.add(call("Last-Event-ID negative", HttpMethod.GET, events, Map.of("Last-Event-ID", "-1"), 400,
				"invalid_request", "Last-Event-ID"));
		cases.add(call("Last-Event-ID fractional", HttpMethod.GET, events, Map.of("Last-Event-ID", "1.5"), 400,
				"invalid_request", "Last-Event-ID"));
		cases.add(call("Last-Event-ID bad, after good", HttpMethod.GET, events + "?after=0",
				Map.of("Last-Event-ID", "x"), 400, "invalid_request", "Last-Event-ID"));
		cases.add(call("after not a number", HttpMethod.GET, events + "?after=abc", Map.of(), 400, "invalid_request",
				"after"));
		cases.add(call("after negative", HttpMethod.GET, events + "?after=-5", Map.of(), 400, "invalid_request",
				"after"));
		cases.add(call("after beyond a long", HttpMethod.GET, events + "?after=99999999999999999999", Map.of(), 400,
				"invalid_request", "after"));
		cases.add(call("after empty", HttpMethod.GET, events + "?after=", Map.of(), 400, "invalid_request", "after"));
		cases.add(call("events of an unknown id", HttpMethod.GET, "/v1/streams/" + UNKNOWN_ID + "/events", Map.of(),
				404, "stream_not_found", null));
		cases.add(call("events of a malformed id", HttpMethod.GET, "/v1/streams/not-an-id/events", Map.of(), 404,
				"stream_not_found", null));

		// GET /v1/streams/{id}
		cases.add(call("status of an unknown id", HttpMethod.GET, "/v1/streams/" + UNKNOWN_ID, Map.of(), 404,
				"stream_not_found", null));
		cases.add(call("status of a malformed id", HttpMethod.GET, "/v1/streams/abc", Map.of(), 404,
				"stream_not_found", null));
		cases.add(call("status of an upper-case id", HttpMethod.GET, "/v1/streams/" + UNKNOWN_ID.toUpperCase(),
				Map.of(), 404, "stream_not_found", null));
		cases.add(call("status of an over-long id", HttpMethod.GET, "/v1/streams/str_" + "a".repeat(500), Map.of(),
				404, "stream_not_found", null));
		// Refused by Spring Security's firewall before any routing.
		cases.add(call("status of an encoded dot-dot id", HttpMethod.GET, "/v1/streams/%2e%2e", Map.of(), 400,
				"invalid_request", null));
		cases.add(call("status as an event stream", HttpMethod.GET, "/v1/streams/" + EXISTING,
				Map.of(HttpHeaders.ACCEPT, "text/event-stream"), 406, "not_acceptable", null));

		// POST /v1/streams/{id}/cancel
		cases.add(call("cancel an unknown id", HttpMethod.POST, "/v1/streams/" + UNKNOWN_ID + "/cancel", Map.of(), 404,
				"stream_not_found", null));
		cases.add(call("cancel a malformed id", HttpMethod.POST, "/v1/streams/str_xyz/cancel", Map.of(), 404,
				"stream_not_found", null));
		cases.add(call("cancel asking for an event stream", HttpMethod.POST, "/v1/streams/" + EXISTING + "/cancel",
				Map.of(HttpHeaders.ACCEPT, "text/event-stream"), 406, "not_acceptable", null));

		// GET /v1/streams
		cases.add(list("status unknown", "?status=running", "status"));
		cases.add(list("status wrong case", "?status=Completed", "status"));
		cases.add(list("status empty", "?status=", "status"));
		cases.add(list("limit 0", "?limit=0", "limit"));
		cases.add(list("limit 101", "?limit=101", "limit"));
		cases.add(list("limit negative", "?limit=-1", "limit"));
		cases.add(list("limit not a number", "?limit=ten", "limit"));
		cases.add(list("limit fractional", "?limit=1.5", "limit"));
		cases.add(list("limit beyond a long", "?limit=99999999999999999999", "limit"));
		cases.add(list("after naming no stream", "?after=" + UNKNOWN_ID, "after"));
		cases.add(list("after malformed", "?after=nope", "after"));

		// Wrong methods and paths
		cases.add(call("DELETE /v1/streams", HttpMethod.DELETE, "/v1/streams", Map.of(), 405, "method_not_allowed",
				null));
		cases.add(call("PATCH /v1/streams", HttpMethod.PATCH, "/v1/streams", Map.of(), 405, "method_not_allowed",
				null));
		cases.add(call("PUT a stream", HttpMethod.PUT, "/v1/streams/" + EXISTING, Map.of(), 405, "method_not_allowed",
				null));
		cases.add(call("DELETE a stream", HttpMethod.DELETE, "/v1/streams/" + EXISTING, Map.of(), 405,
				"method_not_allowed", null));
		cases.add(call("GET cancel", HttpMethod.GET, "/v1/streams/" + EXISTING + "/cancel", Map.of(), 405,
				"method_not_allowed", null));
		cases.add(call("POST events", HttpMethod.POST, events, Map.of(), 405, "method_not_allowed", null));
		cases.add(call("unknown path", HttpMethod.GET, "/v1/nope", Map.of(), 404, "not_found", null));
		cases.add(call("unknown sub-resource", HttpMethod.GET, "/v1/streams/" + EXISTING + "/nope", Map.of(), 404,
				"not_found", null));
		cases.add(call("trailing slash", HttpMethod.GET, "/v1/streams/", Map.of(), 404, "not_found", null));
		return cases.stream();
	}

	@Order(1)
	@ParameterizedTest(name = "[{index}] {0}")
	@MethodSource("badRequests")
	void refusedWithAProblemAndNothingChanges(Case bad) {
		String path = bad.path().replace(EXISTING, existingStream());
		int streamsBefore = streamCount();
		int slotsBefore = this.slots.inUse();
		int queuedBefore = this.slots.queued();

		EntityExchangeResult<byte[]> result = send(bad.method(), path, bad.headers(), bad.body(), bad.chunked());

		String text = (result.getResponseBody() != null)
				? new String(result.getResponseBody(), StandardCharsets.UTF_8) : "";
		assertThat(result.getStatus().value()).as("HTTP status; body: %s", text).isEqualTo(bad.status());
		assertThat(result.getResponseHeaders().getContentType()).as("Content-Type")
			.isNotNull()
			.matches(type -> MediaType.APPLICATION_PROBLEM_JSON.equalsTypeAndSubtype(type), "application/problem+json");
		JsonNode problem = this.json.readTree(text);
		assertThat(problem.isObject()).as("problem is a JSON object: %s", text).isTrue();
		assertThat(problem.path("type").asString("")).as("type")
			.startsWith(PROBLEM_BASE)
			.endsWith("/" + bad.slug());
		assertThat(problem.path("title").asString("")).as("title").isNotBlank();
		assertThat(problem.path("status").isInt()).as("status is a number: %s", text).isTrue();
		assertThat(problem.path("status").asInt()).as("status").isEqualTo(bad.status());
		assertThat(problem.path("detail").asString("")).as("detail: %s", text).isNotBlank();
		if (bad.field() != null) {
			assertThat(problem.path("errors").isArray()).as("errors array: %s", text).isTrue();
			List<String> fields = new ArrayList<>();
			for (JsonNode error : problem.path("errors")) {
				assertThat(error.path("field").asString("")).as("errors[].field").isNotBlank();
				assertThat(error.path("message").asString("")).as("errors[].message").isNotBlank();
				fields.add(error.path("field").asString());
			}
			assertThat(fields).as("errors[].field").contains(bad.field());
		}
		else {
			assertThat(problem.has("errors")).as("no field is at fault, so no errors: %s", text).isFalse();
		}
		assertThat(text).as("no implementation details").doesNotContain(LEAKS);
		if (bad.status() == 405) {
			assertThat(result.getResponseHeaders().getAllow()).as("Allow").isNotEmpty();
		}

		assertThat(streamCount()).as("streams after a refused request").isEqualTo(streamsBefore);
		assertThat(this.slots.inUse()).as("slots in use after a refused request").isEqualTo(slotsBefore);
		assertThat(this.slots.queued()).as("queued after a refused request").isEqualTo(queuedBefore);
	}

	@Order(2)
	@Test
	void aNormalStreamStillStartsAndCompletes() {
		List<ServerSentEvent<String>> events = this.http.post()
			.uri("/v1/streams")
			.accept(MediaType.TEXT_EVENT_STREAM)
			.contentType(MediaType.APPLICATION_JSON)
			.bodyValue("{\"prompt\":\"hi\"}")
			.exchange()
			.expectStatus()
			.isOk()
			.returnResult(new ParameterizedTypeReference<ServerSentEvent<String>>() {
			})
			.getResponseBody()
			.filter(event -> event.event() != null)
			.collectList()
			.block(TIMEOUT);
		assertThat(events).isNotNull().isNotEmpty();
		assertThat(events).first().extracting(ServerSentEvent::event).isEqualTo("stream.created");
		assertThat(events).last().extracting(ServerSentEvent::event).isEqualTo("stream.completed");
		await().atMost(TIMEOUT).untilAsserted(() -> assertThat(this.slots.inUse()).isZero());
	}

	// --- cases

	static Case start(String name, String body, int status, String slug, @Nullable String field) {
		return start(name, json(), body, status, slug, field);
	}

	static Case start(String name, Map<String, String> headers, String body, int status, String slug,
			@Nullable String field) {
		return new Case(name, HttpMethod.POST, "/v1/streams", headers, utf8(body), false, status, slug, field);
	}

	static Case call(String name, HttpMethod method, String path, Map<String, String> headers, int status, String slug,
			@Nullable String field) {
		return new Case(name, method, path, headers, null, false, status, slug, field);
	}

	static Case list(String name, String query, String field) {
		return call("list: " + name, HttpMethod.GET, "/v1/streams" + query, Map.of(), 400, "invalid_request", field);
	}

	static Map<String, String> json() {
		return Map.of(HttpHeaders.CONTENT_TYPE, "application/json");
	}

	static byte[] utf8(String text) {
		return text.getBytes(StandardCharsets.UTF_8);
	}

	/** {@code {"prompt":"h?"}} where ? is 0xFF, which can never occur in UTF-8. */
	static byte[] invalidUtf8() {
		byte[] body = utf8("{\"prompt\":\"h_\"}");
		body[12] = (byte) 0xFF;
		return body;
	}

	static String metadata(int entries) {
		Map<String, String> pairs = new LinkedHashMap<>();
		IntStream.range(0, entries).forEach(i -> pairs.put("k" + i, "v"));
		StringBuilder json = new StringBuilder("{");
		pairs.forEach((key, value) -> json.append((json.length() > 1) ? "," : "")
			.append('"')
			.append(key)
			.append("\":\"")
			.append(value)
			.append('"'));
		return json.append('}').toString();
	}

	static String messages(int count, String content) {
		StringBuilder json = new StringBuilder("[");
		for (int i = 0; i < count; i++) {
			json.append((i > 0) ? "," : "").append("{\"role\":\"user\",\"content\":\"").append(content).append("\"}");
		}
		return json.append(']').toString();
	}

	/** An object whose nesting (counting itself) is {@code depth} levels. */
	static String nested(int depth) {
		return "{\"a\":".repeat(depth - 1) + "{}" + "}".repeat(depth - 1);
	}

	// --- requests

	/** Sends the case exactly as written: headers untouched by codecs, the body as raw bytes. */
	EntityExchangeResult<byte[]> send(HttpMethod method, String path, Map<String, String> headers,
			byte @Nullable [] body, boolean chunked) {
		WebTestClient.RequestBodySpec request = this.http.method(method)
			.uri(URI.create("http://localhost:" + this.port + path));
		headers.forEach(request::header);
		WebTestClient.RequestHeadersSpec<?> ready = request;
		if (body != null) {
			DataBuffer buffer = DefaultDataBufferFactory.sharedInstance.wrap(body);
			if (chunked) {
				ready = request.body(BodyInserters.fromDataBuffers(Flux.just(buffer)));
			}
			else {
				request.contentLength(body.length);
				ready = request.body(BodyInserters.fromDataBuffers(Mono.just(buffer)));
			}
		}
		return ready.exchange().expectBody(byte[].class).returnResult();
	}

	int streamCount() {
		byte[] body = this.http.get()
			.uri("/v1/streams?limit=100")
			.exchange()
			.expectStatus()
			.isOk()
			.expectBody(byte[].class)
			.returnResult()
			.getResponseBody();
		JsonNode page = this.json.readTree(body);
		assertThat(page.path("data").isArray()).as("list page").isTrue();
		assertThat(page.path("has_more").asBoolean()).as("fewer than 100 streams").isFalse();
		return page.path("data").size();
	}

	/** A completed background stream for the cases that must run against a real id. */
	String existingStream() {
		String id = existingId;
		if (id != null) {
			return id;
		}
		byte[] body = this.http.post()
			.uri("/v1/streams")
			.contentType(MediaType.APPLICATION_JSON)
			.bodyValue("{\"prompt\":\"hi\",\"background\":true}")
			.exchange()
			.expectStatus()
			.isAccepted()
			.expectBody(byte[].class)
			.returnResult()
			.getResponseBody();
		String created = this.json.readTree(body).path("id").asString();
		await().atMost(TIMEOUT).untilAsserted(() -> assertThat(status(created)).isEqualTo("completed"));
		await().atMost(TIMEOUT).untilAsserted(() -> assertThat(this.slots.inUse()).isZero());
		existingId = created;
		return created;
	}

	String status(String id) {
		byte[] body = this.http.get()
			.uri("/v1/streams/{id}", id)
			.exchange()
			.expectStatus()
			.isOk()
			.expectBody(byte[].class)
			.returnResult()
			.getResponseBody();
		return this.json.readTree(body).path("status").asString();
	}

}
