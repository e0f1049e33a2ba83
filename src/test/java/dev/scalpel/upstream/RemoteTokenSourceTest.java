package dev.scalpel.upstream;

import java.net.ServerSocket;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import reactor.core.publisher.Flux;
import reactor.core.scheduler.Schedulers;
import reactor.netty.resources.ConnectionProvider;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.web.reactive.function.client.WebClient;

import dev.scalpel.upstream.ProviderProperties.Type;
import dev.scalpel.upstream.fake.ReceivedRequest;
import dev.scalpel.upstream.fake.Script;
import dev.scalpel.upstream.fake.TestUpstream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

/**
 * Both provider protocols against a real HTTP server that speaks them: the request each sends, the
 * chunks each reads, usage as reported or counted, and every way a provider can fail (an error status
 * with its body, a reset, broken JSON, an over-long line, a stream that stops without finishing, an
 * error event), each a sanitised {@link UpstreamFailure}; and the retry rule: a {@code 429} or
 * {@code 503}, or a connection refused or dropped before the provider answered, is tried again with
 * backoff, nothing else is.
 */
class RemoteTokenSourceTest {

	private static final Duration TIMEOUT = Duration.ofSeconds(5);

	private static final String KEY = "sk-test-0123456789abcdef";

	private static final TestUpstream upstream = TestUpstream.start();

	private static final ConnectionProvider connections = ConnectionProvider.create("test-upstream", 64);

	private final UpstreamProperties properties = UpstreamProperties
		.withTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(5), Duration.ofSeconds(10))
		.withRetry(new UpstreamProperties.Retry(3, Duration.ofMillis(20), Duration.ofMillis(200), 0.5));

	@BeforeEach
	void reset() {
		upstream.reset();
	}

	@AfterAll
	static void closeEverything() {
		connections.disposeLater().block(TIMEOUT);
		try {
			upstream.awaitNoOpenConnections(Duration.ofSeconds(2));
		}
		finally {
			upstream.close();
		}
	}

	// --- streaming

	@ParameterizedTest
	@EnumSource(Type.class)
	void streamsTheTokensAndFinishesWithTheReportedUsage(Type type) {
		upstream.enqueue(Script.tokens("Hello", ",", " world").usage(11, 4));

		List<Chunk> chunks = collect(source(type), request("model-x", 64));

		assertThat(chunks).containsExactly(new Chunk.Token("Hello"), new Chunk.Token(","), new Chunk.Token(" world"),
				new Chunk.Finished("stop", new Usage(11, 4)));
	}

	@ParameterizedTest
	@EnumSource(Type.class)
	void aReplyCutByMaxTokensFinishesWithLength(Type type) {
		upstream.enqueue(Script.tokens("a", "b").finishReason("length"));

		List<Chunk> chunks = collect(source(type), request("model-x", 2));

		assertThat(chunks.get(chunks.size() - 1)).isInstanceOfSatisfying(Chunk.Finished.class,
				finished -> assertThat(finished.reason()).isEqualTo("length"));
	}

	@ParameterizedTest
	@EnumSource(Type.class)
	void aReplyStoppedByTheProvidersContentPolicyFinishesWithContentFilter(Type type) {
		upstream.enqueue(Script.tokens("a").finishReason("content_filter"));

		List<Chunk> chunks = collect(source(type), request("model-x", 8));

		assertThat(chunks.get(chunks.size() - 1)).isInstanceOfSatisfying(Chunk.Finished.class,
				finished -> assertThat(finished.reason()).isEqualTo("content_filter"));
	}

	@Test
	void openAiRequestCarriesTheKeyTheModelTheTurnsAndAsksForUsage() {
		collect(source(Type.OPENAI), new GenerationRequest("gpt-x",
				List.of(new Message("system", "Be brief."), new Message("user", "Hi")), 32, 0.5));

		ReceivedRequest request = upstream.requests().get(0);
		assertThat(request.method()).isEqualTo("POST");
		assertThat(request.path()).isEqualTo("/v1/chat/completions");
		assertThat(request.headers()).containsEntry("authorization", "Bearer " + KEY)
			.containsEntry("x-extra", "yes")
			.containsEntry("content-type", "application/json");
		assertThat(request.headers().get("accept")).contains("text/event-stream");
		JsonNode body = request.json();
		assertThat(body.path("model").asString()).isEqualTo("gpt-x");
		assertThat(body.path("stream").asBoolean()).isTrue();
		assertThat(body.path("stream_options").path("include_usage").asBoolean()).isTrue();
		assertThat(body.path("max_tokens").asInt()).isEqualTo(32);
		assertThat(body.path("temperature").asDouble()).isEqualTo(0.5);
		assertThat(body.path("messages").toString())
			.isEqualTo("[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"}]");
	}

	@Test
	void anthropicRequestCarriesItsHeadersTheSystemApartAndAlwaysAMaxTokens() {
		collect(source(Type.ANTHROPIC), new GenerationRequest("claude-x",
				List.of(new Message("system", "Be brief."), new Message("user", "Hi")), null, 1.5));

		ReceivedRequest request = upstream.requests().get(0);
		assertThat(request.path()).isEqualTo("/v1/messages");
		assertThat(request.headers()).containsEntry("x-api-key", KEY)
			.containsEntry("anthropic-version", "2023-06-01")
			.doesNotContainKey("authorization");
		JsonNode body = request.json();
		assertThat(body.path("model").asString()).isEqualTo("claude-x");
		assertThat(body.path("max_tokens").asInt()).isEqualTo(4096);
		assertThat(body.path("system").asString()).isEqualTo("Be brief.");
		assertThat(body.path("temperature").asDouble()).isEqualTo(1.0);
		assertThat(body.path("messages").toString()).isEqualTo("[{\"role\":\"user\",\"content\":\"Hi\"}]");
	}

	@Test
	void withoutAUsageReportTheOutputTokensAreCounted() {
		upstream.enqueue(Script.tokens("one", " two", " three").noUsage());
		RemoteTokenSource source = source(endpoint(Type.OPENAI, false));

		List<Chunk> chunks = collect(source, request("m", null));

		assertThat(chunks.get(3)).isEqualTo(new Chunk.Finished("stop", new Usage(null, 3)));
		assertThat(upstream.requests().get(0).json().has("stream_options")).isFalse();
	}

	// --- failures

	@ParameterizedTest
	@EnumSource(Type.class)
	void anErrorAnswerFailsWithItsStatusTypeAndMessageAndNoKey(Type type) {
		upstream.enqueue(Script.words(3)
			.error(401, "authentication_error", "Incorrect API key provided: " + KEY + ". Find yours elsewhere."));

		UpstreamFailure failure = failure(source(type));

		assertThat(failure.kind()).isEqualTo(UpstreamFailure.Kind.STATUS);
		assertThat(failure.status()).isEqualTo(401);
		assertThat(failure.providerType()).isEqualTo("authentication_error");
		assertThat(failure.endpoint()).isEqualTo("ep");
		assertThat(failure.getMessage()).startsWith("ep answered 401 UNAUTHORIZED: Incorrect API key provided: ***")
			.doesNotContain(KEY)
			.doesNotContain("0123456789abcdef");
		assertThat(upstream.requests()).hasSize(1);
	}

	@ParameterizedTest
	@EnumSource(Type.class)
	void anErrorAnswerWithoutAJsonBodyStillFailsWithItsStatus(Type type) {
		upstream.enqueue(Script.words(3).status(502, "<html>Bad gateway</html>"));

		UpstreamFailure failure = failure(source(type));

		assertThat(failure.status()).isEqualTo(502);
		assertThat(failure.providerType()).isNull();
		assertThat(failure.getMessage()).isEqualTo("ep answered 502 BAD_GATEWAY");
		assertThat(failure.countsAsFailure()).isTrue();
	}

	@ParameterizedTest
	@EnumSource(Type.class)
	void aConnectionResetMidStreamFailsAfterTheTokensBeforeIt(Type type) {
		upstream.enqueue(Script.words(10).resetAfter(2));

		List<Object> signals = signals(source(type));

		assertThat(signals).hasSize(3);
		assertThat(signals.get(0)).isInstanceOf(Chunk.Token.class);
		assertThat(signals.get(1)).isInstanceOf(Chunk.Token.class);
		assertThat(signals.get(2)).isInstanceOfSatisfying(UpstreamFailure.class,
				failure -> {
					assertThat(failure.kind()).isEqualTo(UpstreamFailure.Kind.CONNECTION);
					assertThat(failure.getMessage()).isEqualTo("the provider reset the connection");
					assertThat(failure.unanswered()).isFalse();
				});
		assertThat(upstream.requests()).hasSize(1);
	}

	@ParameterizedTest
	@EnumSource(Type.class)
	void aChunkThatIsNotJsonFailsTheCall(Type type) {
		upstream.enqueue(Script.words(10).malformedJsonAfter(1));

		UpstreamFailure failure = failure(source(type));

		assertThat(failure.kind()).isEqualTo(UpstreamFailure.Kind.MALFORMED);
		assertThat(failure.getMessage()).contains("not valid JSON");
	}

	@ParameterizedTest
	@EnumSource(Type.class)
	void aLineLongerThanTheLimitFailsTheCall(Type type) {
		upstream.enqueue(Script.words(10).oversizedLineAfter(1));

		UpstreamFailure failure = failure(source(type));

		assertThat(failure.kind()).isEqualTo(UpstreamFailure.Kind.MALFORMED);
		assertThat(failure.getMessage()).contains("max-line-size");
	}

	@ParameterizedTest
	@EnumSource(Type.class)
	void aStreamThatEndsWithoutFinishingFails(Type type) {
		upstream.enqueue(Script.words(10).endWithoutFinishAfter(2));

		List<Object> signals = signals(source(type));

		assertThat(signals).hasSize(3);
		assertThat(signals.get(2)).isInstanceOfSatisfying(UpstreamFailure.class, failure -> {
			assertThat(failure.kind()).isEqualTo(UpstreamFailure.Kind.INCOMPLETE);
			assertThat(failure.getMessage()).isEqualTo("the provider's stream ended without finishing");
		});
	}

	@ParameterizedTest
	@EnumSource(Type.class)
	void anErrorEventMidStreamFailsWithTheProvidersTypeAndIsNotRetried(Type type) {
		upstream.enqueue(Script.words(10).errorEventAfter(1, "overloaded_error", "Overloaded"));

		List<Object> signals = signals(source(type));

		assertThat(signals).hasSize(2);
		assertThat(signals.get(1)).isInstanceOfSatisfying(UpstreamFailure.class, failure -> {
			assertThat(failure.kind()).isEqualTo(UpstreamFailure.Kind.STREAM_ERROR);
			assertThat(failure.providerType()).isEqualTo("overloaded_error");
			assertThat(failure.getMessage()).isEqualTo("the provider reported an error mid-stream: Overloaded");
		});
		assertThat(upstream.requests()).hasSize(1);
	}

	@Test
	void aRefusedConnectionFails() throws Exception {
		int closedPort;
		try (ServerSocket socket = new ServerSocket(0)) {
			closedPort = socket.getLocalPort();
		}
		RemoteTokenSource source = source(new ProviderProperties.Endpoint("ep", Type.OPENAI,
				URI.create("http://127.0.0.1:" + closedPort + "/v1"), KEY, List.of("m"), Map.of(), true, 4096,
				"2023-06-01"));

		long started = System.nanoTime();
		UpstreamFailure failure = failure(source);
		Duration took = Duration.ofNanos(System.nanoTime() - started);

		assertThat(failure.kind()).isEqualTo(UpstreamFailure.Kind.CONNECTION);
		assertThat(failure.getMessage()).isEqualTo("could not connect to ep");
		assertThat(failure.unanswered()).isTrue();
		// Three attempts: backoffs of 20 ms and 40 ms in between, each at least half that with the jitter.
		assertThat(took).isGreaterThanOrEqualTo(Duration.ofMillis(30));
	}

	@ParameterizedTest
	@EnumSource(Type.class)
	void aConnectionResetBeforeTheProviderAnsweredIsRetried(Type type) {
		upstream.enqueue(Script.tokens("Lost").resetBeforeResponse());
		upstream.enqueue(Script.tokens("Finally"));

		List<Chunk> chunks = collect(source(type), request("m", null));

		assertThat(chunks.get(0)).isEqualTo(new Chunk.Token("Finally"));
		List<ReceivedRequest> requests = upstream.requests();
		assertThat(requests).hasSize(2);
		assertThat(requests.get(1).body()).isEqualTo(requests.get(0).body());
		assertThat(requests.get(1).connection()).isNotSameAs(requests.get(0).connection());
	}

	@Test
	void aProviderThatDropsEveryRequestFailsAfterTheConfiguredAttempts() {
		upstream.defaultScript(Script.tokens("Lost").resetBeforeResponse());

		UpstreamFailure failure = failure(source(Type.OPENAI));

		assertThat(failure.kind()).isEqualTo(UpstreamFailure.Kind.CONNECTION);
		assertThat(failure.unanswered()).isTrue();
		assertThat(failure.getMessage()).isEqualTo("the provider closed the connection before answering");
		assertThat(upstream.requests()).hasSize(3);
	}

	// --- retries

	@ParameterizedTest
	@EnumSource(Type.class)
	void refusalsBeforeTheFirstTokenAreRetriedWithBackoff(Type type) {
		upstream.enqueue(Script.words(1).error(429, "rate_limit_error", "Slow down"));
		upstream.enqueue(Script.words(1).error(503, "overloaded_error", "Busy"));
		upstream.enqueue(Script.tokens("Finally"));

		List<Chunk> chunks = collect(source(type), request("m", null));

		assertThat(chunks.get(0)).isEqualTo(new Chunk.Token("Finally"));
		List<ReceivedRequest> requests = upstream.requests();
		assertThat(requests).hasSize(3);
		// 20 ms, then 40 ms, each within the jitter of 50 %.
		assertThat(Duration.ofNanos(requests.get(1).receivedNanos() - requests.get(0).receivedNanos()))
			.isGreaterThanOrEqualTo(Duration.ofMillis(10));
		assertThat(Duration.ofNanos(requests.get(2).receivedNanos() - requests.get(1).receivedNanos()))
			.isGreaterThanOrEqualTo(Duration.ofMillis(20));
		assertThat(requests.get(2).body()).isEqualTo(requests.get(0).body());
	}

	@Test
	void aRetryAfterWithinTheLongestBackoffIsHonoured() {
		upstream.enqueue(Script.words(1).error(429, "rate_limit_error", "Slow down").header("Retry-After", "0.15"));
		upstream.enqueue(Script.tokens("Done"));

		collect(source(Type.OPENAI), request("m", null));

		List<ReceivedRequest> requests = upstream.requests();
		assertThat(Duration.ofNanos(requests.get(1).receivedNanos() - requests.get(0).receivedNanos()))
			.isGreaterThanOrEqualTo(Duration.ofMillis(140));
	}

	@Test
	void aRetryAfterLongerThanTheLongestBackoffIsNotWaitedFor() {
		upstream.enqueue(Script.words(1).error(429, "rate_limit_error", "Come back tomorrow").header("Retry-After", "60"));

		UpstreamFailure failure = failure(source(Type.OPENAI));

		assertThat(failure.status()).isEqualTo(429);
		assertThat(failure.retryAfter()).isEqualTo(Duration.ofSeconds(60));
		assertThat(upstream.requests()).hasSize(1);
	}

	@ParameterizedTest
	@EnumSource(Type.class)
	void retriesStopAtTheConfiguredNumberOfAttempts(Type type) {
		upstream.defaultScript(Script.words(1).error(503, "overloaded_error", "Still busy"));

		UpstreamFailure failure = failure(source(type));

		assertThat(failure.status()).isEqualTo(503);
		assertThat(upstream.requests()).hasSize(3);
	}

	@Test
	void otherErrorsAreNotRetried() {
		for (int status : new int[] { 400, 401, 404, 500 }) {
			upstream.reset();
			upstream.enqueue(Script.words(1).error(status, "some_error", "No"));
			upstream.enqueue(Script.tokens("Should not be asked for"));

			assertThat(failure(source(Type.OPENAI)).status()).isEqualTo(status);
			assertThat(upstream.requests()).as("status " + status).hasSize(1);
		}
	}

	// --- helpers

	private RemoteTokenSource source(Type type) {
		return source(endpoint(type, true));
	}

	private static ProviderProperties.Endpoint endpoint(Type type, boolean includeUsage) {
		return new ProviderProperties.Endpoint("ep", type, URI.create(upstream.baseUrl()), KEY, List.of("m"),
				Map.of("X-Extra", "yes"), includeUsage, 4096, "2023-06-01");
	}

	private RemoteTokenSource source(ProviderProperties.Endpoint endpoint) {
		WebClient client = UpstreamConfiguration.webClient(WebClient.builder(), connections, this.properties);
		return new RemoteTokenSource(endpoint, client, JsonMapper.builder().build(), this.properties,
				CircuitBreaker.of("ep", UpstreamConfiguration.circuitBreakerConfig(this.properties.circuitBreaker())),
				Schedulers.parallel());
	}

	private static GenerationRequest request(String model, Integer maxTokens) {
		return new GenerationRequest(model, List.of(new Message("user", "Hi")), maxTokens, null);
	}

	private static List<Chunk> collect(RemoteTokenSource source, GenerationRequest request) {
		return source.generate(request).collectList().block(TIMEOUT);
	}

	/** The chunks of a call, then its failure, in order. */
	private static List<Object> signals(RemoteTokenSource source) {
		return source.generate(request("m", null))
			.map(Object.class::cast)
			.onErrorResume(failure -> Flux.just(failure))
			.collectList()
			.block(TIMEOUT);
	}

	private static UpstreamFailure failure(RemoteTokenSource source) {
		return catchThrowableOfType(UpstreamFailure.class,
				() -> source.generate(request("m", null)).blockLast(TIMEOUT));
	}

}
