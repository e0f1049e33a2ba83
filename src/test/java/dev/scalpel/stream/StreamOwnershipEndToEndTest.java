package dev.scalpel.stream;

import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;

import io.micrometer.core.instrument.MeterRegistry;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Mono;
import tools.jackson.databind.JsonNode;

import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.http.MediaType;
import org.springframework.web.reactive.function.client.WebClient;

import dev.scalpel.slot.SlotPool;
import dev.scalpel.support.Await;
import dev.scalpel.support.EventRecorder;
import dev.scalpel.support.ScalpelTest;
import dev.scalpel.support.StreamsClient;
import dev.scalpel.support.FakeControlledTokenSource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 9 over real sockets, with API keys configured: every {@code /v1} endpoint needs a key; a
 * stream belongs to the key that started it and is {@code 404} to every other key, exactly as an
 * unknown id; an administrator lists, sees and cancels every stream but reads no other key's events;
 * a browser attaches with the attach token of one stream and nothing else; per-key quotas refuse with
 * {@code 429 quota_exceeded} and give the place back at the stream's end.
 */
@ScalpelTest(properties = {
		"scalpel.security.keys[0].name=alice",
		"scalpel.security.keys[0].sha256=099295a3784e1bd368dc348843a7398c1931b6b8ec2504c73e91ed2040bdc46c",
		"scalpel.security.keys[1].name=bob",
		"scalpel.security.keys[1].sha256=36c76b48bb2ee1d9d37140550e9d7ed7d395cf56f41050dc2a72e5291c0011f0",
		"scalpel.security.keys[2].name=ops", "scalpel.security.keys[2].role=admin",
		"scalpel.security.keys[2].sha256=c391959605db2757d87bf45d5f4c9bda42b68e95dcd157bf4f2473516c2bc9bb",
		"scalpel.security.keys[3].name=capped", "scalpel.security.keys[3].max-concurrent-streams=2",
		"scalpel.security.keys[3].sha256=81b8d48bcfa98b69aacb63868eed31c8406025227d30e726215fd3a42f32979d",
		"scalpel.security.keys[4].name=metered", "scalpel.security.keys[4].starts-per-minute=3",
		"scalpel.security.keys[4].sha256=d54a220614c3ab4f87a20b9e9c139227f620febbef7f8103c1689da35f175eb7",
		"scalpel.security.attach-token.secret=" + StreamOwnershipEndToEndTest.SECRET })
class StreamOwnershipEndToEndTest {

	static final String SECRET = "a-test-secret-of-more-than-32-characters";

	private static final String CONTROLLED = "{\"model\":\"controlled\",\"prompt\":\"Go on\"}";

	private static final String CONTROLLED_BACKGROUND = "{\"model\":\"controlled\",\"prompt\":\"Go on\",\"background\":true}";

	@Value("${local.server.port}")
	int port;

	@Autowired
	SlotPool slots;

	@Autowired
	FakeControlledTokenSource controlled;

	@Autowired
	MeterRegistry meters;

	StreamsClient alice;

	StreamsClient bob;

	StreamsClient ops;

	StreamsClient capped;

	StreamsClient metered;

	/** No key at all: a browser. */
	StreamsClient anonymous;

	@BeforeEach
	void clients() {
		this.alice = new StreamsClient(this.port, "sk-alice");
		this.bob = new StreamsClient(this.port, "sk-bob");
		this.ops = new StreamsClient(this.port, "sk-ops");
		this.capped = new StreamsClient(this.port, "sk-capped");
		this.metered = new StreamsClient(this.port, "sk-metered");
		this.anonymous = new StreamsClient(this.port);
		this.controlled.reset();
	}

	@AfterEach
	void cancelLeftovers() {
		for (StreamsClient client : List.of(this.alice, this.bob, this.ops, this.capped, this.metered)) {
			client.cancelAll();
		}
		Await.atMost(StreamsClient.TIMEOUT)
			.until(() -> this.slots.inUse() == 0 && this.slots.queued() == 0 && this.controlled.open() == 0);
	}

	// --- keys

	@Test
	void everyApiEndpointRefusesARequestWithoutAValidKeyAndCreatesNothing() {
		String id = this.alice.startAccepted(CONTROLLED_BACKGROUND);
		FakeControlledTokenSource.Call call = this.controlled.nextCall(StreamsClient.TIMEOUT);
		double started = startedCount();
		double rejected = rejections("unauthorized");
		List<String[]> endpoints = List.of(new String[] { "POST", "/v1/streams" }, new String[] { "GET", "/v1/streams" },
				new String[] { "GET", "/v1/streams/" + id }, new String[] { "GET", "/v1/streams/" + id + "/events" },
				new String[] { "POST", "/v1/streams/" + id + "/cancel" },
				new String[] { "POST", "/v1/streams/" + id + "/attach_token" },
				new String[] { "POST", "/v1/chat/completions" }, new String[] { "GET", "/v1/models" });
		List<@Nullable String> authorizations = new ArrayList<>();
		authorizations.add(null);
		authorizations.addAll(List.of("Bearer sk-wrong", "Bearer ", "Bearer", "Basic c2stYWxpY2U6", "sk-alice",
				"Bearer sk-alice sk-alice", "Bearer " + "x".repeat(4000)));
		for (String[] endpoint : endpoints) {
			for (String authorization : authorizations) {
				Raw reply = raw(HttpMethod.valueOf(endpoint[0]), endpoint[1], authorization,
						endpoint[1].endsWith("completions") ? "{\"model\":\"simulated\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"
								: "{\"prompt\":\"Hi\"}");
				String what = endpoint[0] + " " + endpoint[1] + " with " + authorization;
				assertThat(reply.status()).as(what).isEqualTo(401);
				assertThat(reply.headers().getFirst(HttpHeaders.WWW_AUTHENTICATE)).as(what).startsWith("Bearer realm=\"scalpel\"");
				JsonNode body = this.alice.json(reply.body());
				if (endpoint[1].startsWith("/v1/chat/") || endpoint[1].startsWith("/v1/models")) {
					// The OpenAI door: OpenAI's shape, so that the SDKs raise their AuthenticationError.
					assertThat(body.get("error").get("code").asString()).as(what).isEqualTo("unauthorized");
				}
				else {
					assertThat(reply.headers().getContentType()).as(what).isEqualTo(MediaType.APPLICATION_PROBLEM_JSON);
					assertThat(body.get("type").asString()).as(what).isEqualTo("https://scalpel.dev/problems/unauthorized");
					assertThat(body.get("status").asInt()).isEqualTo(401);
				}
				assertThat(reply.body()).as(what).doesNotContain("sk-alice").doesNotContain("Exception");
			}
		}
		assertThat(startedCount()).as("streams created").isEqualTo(started);
		assertThat(rejections("unauthorized")).as("refused starts counted").isEqualTo(rejected + 2 * authorizations.size());
		// The stream the refused calls named is untouched.
		assertThat(this.alice.status(id).get("status").asString()).isEqualTo("in_progress");
		assertThat(call.cancelled()).isFalse();
	}

	@Test
	void operationsAndDocumentationStayOpenWhileTheApiNeedsKeys() {
		// The first request builds the OpenAPI document, which takes seconds on a small machine.
		assertThat(raw(HttpMethod.GET, "/v3/api-docs", null, null, Duration.ofSeconds(30)).status()).isEqualTo(200);
		assertThat(this.anonymous.get("/v1/models").status()).isEqualTo(401);
		assertThat(this.alice.get("/v1/models").status()).isEqualTo(200);
	}

	// --- ownership

	@Test
	void anotherKeysStreamIsNotFoundEverywhereExactlyAsAnUnknownIdAndStaysUntouched() {
		String id = this.alice.startAccepted(CONTROLLED_BACKGROUND);
		FakeControlledTokenSource.Call call = this.controlled.nextCall(StreamsClient.TIMEOUT);
		String unknown = BadInputTest.UNKNOWN_ID;

		for (String suffix : List.of("", "/events")) {
			assertSameAsUnknown(this.bob.get("/v1/streams/" + id + suffix), id,
					this.bob.get("/v1/streams/" + unknown + suffix), unknown);
		}
		assertSameAsUnknown(this.bob.cancelReply(id), id, this.bob.cancelReply(unknown), unknown);
		assertSameAsUnknown(raw(HttpMethod.POST, "/v1/streams/" + id + "/attach_token", "Bearer sk-bob", null), id,
				raw(HttpMethod.POST, "/v1/streams/" + unknown + "/attach_token", "Bearer sk-bob", null), unknown);
		assertThat(ids(this.bob.get("/v1/streams"))).doesNotContain(id);
		StreamsClient.Reply cursor = this.bob.get("/v1/streams?after=" + id);
		StreamsClient.Reply unknownCursor = this.bob.get("/v1/streams?after=" + unknown);
		assertThat(cursor.status()).isEqualTo(400).isEqualTo(unknownCursor.status());
		assertThat(this.bob.json(cursor).get("errors")).isEqualTo(this.bob.json(unknownCursor).get("errors"));

		// Nothing bob did reached the stream: it runs on for alice.
		assertThat(call.cancelled()).isFalse();
		call.token("still ").token("mine");
		JsonNode status = this.alice.status(id);
		assertThat(status.get("status").asString()).isEqualTo("in_progress");
		assertThat(ids(this.alice.get("/v1/streams"))).contains(id);
		call.finish("stop");
		EventRecorder replay = this.alice.attach(id).awaitCompletion();
		assertThat(replay.types()).containsSubsequence("stream.created", "stream.started", "token", "token",
				"stream.completed");
	}

	@Test
	void theOwnerAttachesCancelsAndListsItsOwnStreamsOnly() {
		String mine = this.alice.startAccepted(CONTROLLED_BACKGROUND);
		String theirs = this.bob.startAccepted(CONTROLLED_BACKGROUND);
		assertThat(ids(this.alice.get("/v1/streams"))).contains(mine).doesNotContain(theirs);
		assertThat(ids(this.bob.get("/v1/streams"))).contains(theirs).doesNotContain(mine);
		EventRecorder listener = this.alice.attach(mine).awaitEvent("stream.started");
		assertThat(this.alice.cancel(mine).get("status").asString()).isEqualTo("cancelled");
		assertThat(listener.awaitCompletion().last().event()).isEqualTo("stream.cancelled");
		assertThat(this.bob.status(theirs).get("status").asString()).isEqualTo("in_progress");
	}

	@Test
	void anAdministratorListsSeesAndCancelsEveryStreamButReadsNoOtherKeysEvents() {
		String alices = this.alice.startAccepted(CONTROLLED_BACKGROUND);
		String bobs = this.bob.startAccepted(CONTROLLED_BACKGROUND);
		Await.atMost(StreamsClient.TIMEOUT).until(() -> this.slots.inUse() == 2);

		assertThat(ids(this.ops.get("/v1/streams?limit=100"))).contains(alices, bobs);
		assertThat(ids(this.ops.get("/v1/streams?status=in_progress&limit=100"))).contains(alices, bobs);
		assertThat(this.ops.status(alices).get("status").asString()).isEqualTo("in_progress");
		// The answer of another key's stream's events is 404: its prompt and answer are the owner's.
		assertThat(this.ops.get("/v1/streams/" + alices + "/events").status()).isEqualTo(404);
		assertThat(raw(HttpMethod.POST, "/v1/streams/" + alices + "/attach_token", "Bearer sk-ops", null).status())
			.isEqualTo(404);

		JsonNode cancelled = this.ops.cancel(alices);
		assertThat(cancelled.get("status").asString()).isEqualTo("cancelled");
		assertThat(cancelled.get("finish_reason").asString()).isEqualTo("cancel_requested");
		assertThat(this.slots.inUse()).as("the slot is free when the cancel answers").isEqualTo(1);
		assertThat(this.alice.status(alices).get("status").asString()).isEqualTo("cancelled");
		assertThat(this.bob.status(bobs).get("status").asString()).isEqualTo("in_progress");
	}

	// --- attach tokens

	@Test
	void anAttachTokenLetsABrowserAttachToThatOneStreamWithoutAKey() {
		StreamsClient.Reply started = this.alice.start(CONTROLLED);
		assertThat(started.status()).isEqualTo(202);
		JsonNode body = this.alice.json(started);
		String id = body.get("id").asString();
		String token = body.get("attach_token").asString();
		assertThat(started.headers().getFirst("X-Attach-Token")).isEqualTo(token);
		Instant expires = Instant.parse(body.get("attach_token_expires_at").asString());
		assertThat(Duration.between(Instant.now(), expires)).isBetween(Duration.ofMinutes(4), Duration.ofMinutes(6));

		EventRecorder browser = this.anonymous.attach("/v1/streams/" + id + "/events?token=" + token, headers -> {
		});
		this.controlled.nextCall(StreamsClient.TIMEOUT).token("Hello").finish("stop");
		assertThat(browser.awaitCompletion().types()).containsExactly("stream.created", "stream.started", "token",
				"stream.completed");
		assertThat(browser.status()).isEqualTo(200);

		// A new token from the owner works as well; the owner's other calls need its key.
		JsonNode fresh = this.alice.json(raw(HttpMethod.POST, "/v1/streams/" + id + "/attach_token", "Bearer sk-alice",
				null).body());
		assertThat(fresh.get("object").asString()).isEqualTo("attach_token");
		assertThat(fresh.get("stream_id").asString()).isEqualTo(id);
		assertThat(this.anonymous.attach("/v1/streams/" + id + "/events?token=" + fresh.get("token").asString(), headers -> {
		}).awaitCompletion().last().event()).isEqualTo("stream.completed");
	}

	@Test
	void anAttachTokenIsRefusedForAnotherStreamAnotherEndpointWhenExpiredOrForged() {
		JsonNode first = this.alice.json(this.alice.start(CONTROLLED));
		String id = first.get("id").asString();
		String token = first.get("attach_token").asString();
		String other = this.alice.startAccepted(CONTROLLED);

		assertRefused(raw(HttpMethod.GET, "/v1/streams/" + other + "/events?token=" + token, null, null), "not valid");
		assertRefused(raw(HttpMethod.GET, "/v1/streams/" + id + "?token=" + token, null, null), "API key is required");
		assertRefused(raw(HttpMethod.POST, "/v1/streams/" + id + "/cancel?token=" + token, null, null),
				"API key is required");
		assertRefused(raw(HttpMethod.GET, "/v1/streams?token=" + token, null, null), "API key is required");
		char flipped = (token.charAt(5) == 'A') ? 'B' : 'A';
		assertRefused(raw(HttpMethod.GET,
				"/v1/streams/" + id + "/events?token=" + token.substring(0, 5) + flipped + token.substring(6), null, null),
				"not valid");
		assertRefused(raw(HttpMethod.GET, "/v1/streams/" + id + "/events?token=", null, null), "not valid");
		assertRefused(raw(HttpMethod.GET, "/v1/streams/" + id + "/events?token=" + "x".repeat(3000), null, null),
				"not valid");

		// Signed with the service's secret, but issued 6 minutes ago (5 minutes' life).
		Clock past = Clock.fixed(Instant.now().minus(Duration.ofMinutes(6)), ZoneOffset.UTC);
		AttachTokens before = new AttachTokens(SECRET.getBytes(StandardCharsets.UTF_8), Duration.ofMinutes(5), past);
		assertRefused(raw(HttpMethod.GET, "/v1/streams/" + id + "/events?token=" + before.issue(id, "alice").token(), null,
				null), "expired");
		// Signed with the service's secret, for a key that is not configured.
		AttachTokens now = new AttachTokens(SECRET.getBytes(StandardCharsets.UTF_8), Duration.ofMinutes(5),
				Clock.systemUTC());
		assertRefused(raw(HttpMethod.GET, "/v1/streams/" + id + "/events?token=" + now.issue(id, "mallory").token(), null,
				null), "not valid");
		// Signed with another secret.
		AttachTokens foreign = new AttachTokens("another-secret-of-more-than-32-characters".getBytes(StandardCharsets.UTF_8),
				Duration.ofMinutes(5), Clock.systemUTC());
		assertRefused(raw(HttpMethod.GET, "/v1/streams/" + id + "/events?token=" + foreign.issue(id, "alice").token(), null,
				null), "not valid");
		// A key sent with it wins: bob's key with alice's token is bob, to whom the stream does not exist.
		assertThat(raw(HttpMethod.GET, "/v1/streams/" + id + "/events?token=" + token, "Bearer sk-bob", null).status())
			.isEqualTo(404);

		// None of it attached a listener: both streams still wait for one, without a slot.
		assertThat(this.alice.status(id).get("status").asString()).isEqualTo("queued");
		assertThat(this.alice.status(other).get("status").asString()).isEqualTo("queued");
		assertThat(this.slots.inUse()).isZero();
	}

	@Test
	void aHeadOnTheEventsAnswersTheirHeadersWithoutAttachingAndOnlyToTheOwner() {
		String id = this.alice.startAccepted(CONTROLLED);
		Raw head = raw(HttpMethod.HEAD, "/v1/streams/" + id + "/events", "Bearer sk-alice", null);
		assertThat(head.status()).isEqualTo(200);
		assertThat(head.headers().getContentType()).isEqualTo(MediaType.TEXT_EVENT_STREAM);
		// No listener: the stream still waits for one, and no generation runs for a HEAD.
		assertThat(this.alice.status(id).get("status").asString()).isEqualTo("queued");
		assertThat(this.slots.inUse()).isZero();
		assertThat(raw(HttpMethod.HEAD, "/v1/streams/" + id + "/events", "Bearer sk-bob", null).status()).isEqualTo(404);
	}

	// --- quotas

	@Test
	void aKeyOverItsStreamsAtOnceIsRefusedAndGetsItsPlaceBackWhenOneEnds() {
		double refused = rejections("quota_exceeded");
		String first = this.capped.startAccepted(CONTROLLED_BACKGROUND);
		this.capped.startAccepted(CONTROLLED_BACKGROUND);

		StreamsClient.Reply third = this.capped.start(CONTROLLED_BACKGROUND);
		assertThat(third.status()).isEqualTo(429);
		JsonNode problem = this.capped.json(third);
		assertThat(problem.get("type").asString()).isEqualTo("https://scalpel.dev/problems/quota_exceeded");
		assertThat(problem.get("detail").asString()).contains("at most 2 streams at once");
		assertThat(third.headers().getFirst(HttpHeaders.RETRY_AFTER)).isEqualTo("1");
		// Through the OpenAI door too, in its shape.
		Raw door = raw(HttpMethod.POST, "/v1/chat/completions", "Bearer sk-capped",
				"{\"model\":\"simulated\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
		assertThat(door.status()).isEqualTo(429);
		assertThat(this.capped.json(door.body()).get("error").get("code").asString()).isEqualTo("quota_exceeded");
		assertThat(rejections("quota_exceeded")).isEqualTo(refused + 2);
		// Another key is not held back by this one's quota.
		this.alice.startAccepted(CONTROLLED_BACKGROUND);

		// The place comes back with the stream's end, when the cancel answers.
		this.capped.cancel(first);
		assertThat(this.capped.start(CONTROLLED_BACKGROUND).status()).isEqualTo(202);
		assertThat(this.capped.start(CONTROLLED_BACKGROUND).status()).isEqualTo(429);
	}

	@Test
	void aKeyOverItsStartsPerMinuteIsRefusedWithWhenToRetry() {
		for (int i = 0; i < 3; i++) {
			this.metered.startAccepted("{\"prompt\":\"Hi\"}");
		}
		StreamsClient.Reply fourth = this.metered.start("{\"prompt\":\"Hi\"}");
		assertThat(fourth.status()).isEqualTo(429);
		assertThat(this.metered.json(fourth).get("detail").asString()).contains("at most 3 streams a minute");
		assertThat(Integer.parseInt(fourth.headers().getFirst(HttpHeaders.RETRY_AFTER))).isBetween(1, 60);
		assertThat(this.alice.start("{\"prompt\":\"Hi\"}").status()).isEqualTo(202);
	}

	// --- the rule that matters most still holds with keys

	@Test
	void aKeyedListenerThatDisconnectsFreesTheSlotAndClosesTheUpstreamCall() {
		EventRecorder listener = this.alice.open(CONTROLLED).awaitEvent("stream.started");
		FakeControlledTokenSource.Call call = this.controlled.nextCall(StreamsClient.TIMEOUT);
		listener.disconnect();
		Await.atMost(Duration.ofSeconds(2)).until(() -> call.cancelled() && this.slots.inUse() == 0);
		assertThat(this.alice.status(listener.streamId()).get("finish_reason").asString()).isEqualTo("client_disconnected");
	}

	// --- helpers

	private void assertSameAsUnknown(Raw reply, String id, Raw unknownReply, String unknown) {
		assertSameAsUnknown(new StreamsClient.Reply(reply.status(), reply.headers(), reply.body()), id,
				new StreamsClient.Reply(unknownReply.status(), unknownReply.headers(), unknownReply.body()), unknown);
	}

	private void assertSameAsUnknown(StreamsClient.Reply reply, String id, StreamsClient.Reply unknownReply,
			String unknown) {
		assertThat(reply.status()).as(reply.body()).isEqualTo(404);
		assertThat(unknownReply.status()).isEqualTo(404);
		assertThat(reply.body().replace(id, "ID")).isEqualTo(unknownReply.body().replace(unknown, "ID"));
		assertThat(reply.headers().getContentType()).isEqualTo(unknownReply.headers().getContentType());
	}

	private void assertRefused(Raw reply, String detail) {
		assertThat(reply.status()).as(reply.body()).isEqualTo(401);
		assertThat(this.alice.json(reply.body()).get("detail").asString()).contains(detail);
	}

	private List<String> ids(StreamsClient.Reply list) {
		assertThat(list.status()).as(list.body()).isEqualTo(200);
		List<String> ids = new ArrayList<>();
		this.alice.json(list).get("data").forEach(stream -> ids.add(stream.get("id").asString()));
		return ids;
	}

	private double startedCount() {
		return this.meters.get("scalpel.streams.started").counter().count();
	}

	private double rejections(String reason) {
		return this.meters.get("scalpel.streams.rejected").tag("reason", reason).counter().count();
	}

	record Raw(int status, HttpHeaders headers, String body) {
	}

	/** Any method and path, with the given Authorization (or none) and JSON body (or none). */
	private Raw raw(HttpMethod method, String path, @Nullable String authorization, @Nullable String body) {
		return raw(method, path, authorization, body, StreamsClient.TIMEOUT);
	}

	private Raw raw(HttpMethod method, String path, @Nullable String authorization, @Nullable String body,
			Duration timeout) {
		WebClient.RequestBodySpec request = WebClient.create("http://localhost:" + this.port)
			.method(method)
			.uri(java.net.URI.create("http://localhost:" + this.port + path))
			.headers(headers -> {
				if (authorization != null) {
					headers.set(HttpHeaders.AUTHORIZATION, authorization);
				}
			});
		WebClient.RequestHeadersSpec<?> ready = (body != null)
				? request.contentType(MediaType.APPLICATION_JSON).bodyValue(body) : request;
		return ready
			.exchangeToMono(response -> response.bodyToMono(String.class)
				.defaultIfEmpty("")
				.map(text -> new Raw(response.statusCode().value(), response.headers().asHttpHeaders(), text)))
			.switchIfEmpty(Mono.error(new AssertionError("no response")))
			.block(timeout);
	}

}
