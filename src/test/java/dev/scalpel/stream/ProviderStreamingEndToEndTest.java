package dev.scalpel.stream;

import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.JsonNode;

import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

import dev.scalpel.support.EventRecorder;
import dev.scalpel.support.Logs;
import dev.scalpel.support.ScalpelTest;
import dev.scalpel.support.StreamsClient;
import dev.scalpel.upstream.fake.Endpoints;
import dev.scalpel.upstream.fake.ReceivedRequest;
import dev.scalpel.upstream.fake.Script;
import dev.scalpel.upstream.fake.TestUpstream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Real providers through the whole API: the reply of an OpenAI-compatible and of an Anthropic
 * endpoint streamed to a client with the provider's usage, routing by model list and by
 * {@code <endpoint>/<model>}, {@code GET /v1/models}, a failure mid-stream reaching the client as a
 * typed error after the tokens before it, a refusal retried out of sight, and keys never logged.
 */
@ExtendWith(OutputCaptureExtension.class)
@ScalpelTest(properties = { "scalpel.upstream.idle-connection-time=300ms", "scalpel.upstream.retry.initial-backoff=10ms",
		"logging.level.dev.scalpel=debug", "logging.level.org.springframework.web.reactive.function.client=debug" })
class ProviderStreamingEndToEndTest extends ApiEndToEndTest {

	private static final TestUpstream upstream = TestUpstream.start();

	private static final String OPENAI_KEY = "sk-live-openai-0123456789";

	private static final String ANTHROPIC_KEY = "sk-ant-api03-abcdefghijkl";

	@DynamicPropertySource
	static void endpoints(DynamicPropertyRegistry registry) {
		Endpoints.register(registry, 0, "openai", "openai", upstream::baseUrl, OPENAI_KEY, "gpt-test", "shared");
		Endpoints.register(registry, 1, "anthropic", "anthropic", upstream::baseUrl, ANTHROPIC_KEY, "claude-test",
				"shared");
	}

	@AfterAll
	static void noConnectionIsLeftOpen() {
		// Idle keep-alive connections are closed after scalpel.upstream.idle-connection-time.
		upstream.closeWhenAllClosed(Duration.ofSeconds(10));
	}

	@BeforeEach
	void resetUpstream() {
		upstream.reset();
	}

	@ParameterizedTest
	@ValueSource(strings = { "gpt-test", "claude-test" })
	void theProvidersReplyIsStreamedWithItsUsage(String model) {
		upstream.enqueue(Script.tokens("Hello", ",", " world").usage(11, 4));

		EventRecorder listener = this.client.open("{\"model\":\"" + model + "\",\"prompt\":\"Greet me\"}")
			.awaitCompletion();

		assertThat(listener.types()).containsExactly("stream.created", "stream.started", "token", "token", "token",
				"stream.completed");
		assertThat(listener.events().subList(2, 5)).extracting(event -> this.client.data(event).get("text").asString())
			.containsExactly("Hello", ",", " world");
		JsonNode status = this.client.status(listener.streamId());
		assertThat(status.path("model").asString()).isEqualTo(model);
		assertThat(status.path("finish_reason").asString()).isEqualTo("stop");
		assertThat(status.path("usage").path("input_tokens").asInt()).isEqualTo(11);
		assertThat(status.path("usage").path("output_tokens").asInt()).isEqualTo(4);
		ReceivedRequest request = upstream.requests().get(0);
		assertThat(request.json().path("model").asString()).isEqualTo(model);
		assertThat(request.json().path("messages").path(0).path("content").asString()).isEqualTo("Greet me");
	}

	@ParameterizedTest
	@ValueSource(strings = { "gpt-test", "claude-test" })
	void aReplyTheProviderStoppedForItsContentPolicyCompletesWithContentFilter(String model) {
		upstream.enqueue(Script.tokens("I can").finishReason("content_filter"));

		EventRecorder listener = this.client.open("{\"model\":\"" + model + "\",\"prompt\":\"Tell me\"}")
			.awaitCompletion();

		JsonNode completed = this.client.data(listener.last());
		assertThat(completed.path("status").asString()).isEqualTo("completed");
		assertThat(completed.path("finish_reason").asString()).isEqualTo("content_filter");
	}

	@Test
	void aGenerationThatRanToItsEndLeavesItsConnectionToTheNext() {
		this.client.open("{\"model\":\"gpt-test\",\"prompt\":\"One\"}").awaitCompletion();
		this.client.open("{\"model\":\"gpt-test\",\"prompt\":\"Two\"}").awaitCompletion();

		List<ReceivedRequest> requests = upstream.requests();
		assertThat(requests).hasSize(2);
		assertThat(requests.get(1).connection()).isSameAs(requests.get(0).connection());
		assertThat(requests.get(0).connection().isOpen()).isTrue();
	}

	@Test
	void theEndpointPrefixRoutesExplicitlyAndSendsTheModelWithoutIt() {
		this.client.open("{\"model\":\"anthropic/shared\",\"prompt\":\"Hi\"}").awaitCompletion();
		this.client.open("{\"model\":\"shared\",\"prompt\":\"Hi\"}").awaitCompletion();
		this.client.open("{\"model\":\"openai/gpt-5-preview\",\"prompt\":\"Hi\"}").awaitCompletion();

		List<ReceivedRequest> requests = upstream.requests();
		assertThat(requests).extracting(ReceivedRequest::path)
			.containsExactly("/v1/messages", "/v1/chat/completions", "/v1/chat/completions");
		assertThat(requests).extracting(request -> request.json().path("model").asString())
			.containsExactly("shared", "shared", "gpt-5-preview");
		StreamsClient.Reply unknown = this.client.start("{\"model\":\"mistral/large\",\"prompt\":\"Hi\"}");
		assertThat(unknown.status()).isEqualTo(404);
		assertThat(this.client.json(unknown).path("type").asString())
			.isEqualTo("https://scalpel.dev/problems/model_not_found");
	}

	@Test
	void theModelListNamesEveryRoutableModelAndWhoServesIt() {
		JsonNode list = this.client.json(this.client.get("/v1/models"));

		assertThat(list.path("object").asString()).isEqualTo("list");
		List<String> models = list.path("data")
			.valueStream()
			.map(model -> model.path("id").asString() + "@" + model.path("owned_by").asString())
			.toList();
		// The built-in models (here with the tests' own), then the endpoints' in configured order.
		assertThat(models).containsExactlyInAnyOrder("simulated@scalpel", "controlled@scalpel", "gpt-test@openai",
				"shared@openai", "claude-test@anthropic");
		assertThat(models.subList(2, 5)).containsExactly("gpt-test@openai", "shared@openai", "claude-test@anthropic");
		assertThat(list.path("data").path(0).path("object").asString()).isEqualTo("model");
		assertThat(list.path("data").path(0).path("created").asLong()).isPositive();
	}

	@Test
	void aResetMidStreamReachesTheClientAsATypedErrorAfterTheTokensBeforeIt() {
		upstream.enqueue(Script.words(10).resetAfter(2));

		EventRecorder listener = this.client.open("{\"model\":\"gpt-test\",\"prompt\":\"Hi\"}").awaitCompletion();

		assertThat(listener.types()).containsExactly("stream.created", "stream.started", "token", "token",
				"stream.failed");
		JsonNode failed = this.client.data(listener.last());
		assertThat(failed.path("finish_reason").asString()).isEqualTo("upstream_error");
		assertThat(failed.path("error").path("type").asString()).isEqualTo("upstream_error");
		assertThat(failed.path("error").path("endpoint").asString()).isEqualTo("openai");
		assertThat(failed.path("error").path("message").asString()).isEqualTo("the provider reset the connection");
		assertThat(failed.path("usage").path("output_tokens").asInt()).isEqualTo(2);
	}

	@Test
	void aRefusalBeforeTheFirstTokenIsRetriedOutOfSight() {
		upstream.enqueue(Script.words(1).error(429, "rate_limit_error", "Slow down"));
		upstream.enqueue(Script.tokens("Patience"));

		EventRecorder listener = this.client.open("{\"model\":\"gpt-test\",\"prompt\":\"Hi\"}").awaitCompletion();

		assertThat(listener.types()).containsExactly("stream.created", "stream.started", "token", "stream.completed");
		assertThat(upstream.requests()).hasSize(2);
	}

	@Test
	void keysReachTheProviderButNeverTheLogsOrTheClient(CapturedOutput output) {
		upstream.enqueue(Script.words(1).error(401, "invalid_api_key", "Incorrect API key provided: " + OPENAI_KEY));
		upstream.enqueue(Script.words(1).error(401, "authentication_error", "invalid x-api-key " + ANTHROPIC_KEY));

		EventRecorder openai = this.client.open("{\"model\":\"gpt-test\",\"prompt\":\"Hi\"}").awaitCompletion();
		EventRecorder anthropic = this.client.open("{\"model\":\"claude-test\",\"prompt\":\"Hi\"}").awaitCompletion();

		assertThat(upstream.requests().get(0).headers()).containsEntry("authorization", "Bearer " + OPENAI_KEY);
		assertThat(upstream.requests().get(1).headers()).containsEntry("x-api-key", ANTHROPIC_KEY);
		for (EventRecorder listener : List.of(openai, anthropic)) {
			JsonNode error = this.client.data(listener.last()).path("error");
			assertThat(error.path("upstream_status").asInt()).isEqualTo(401);
			assertThat(error.toString()).doesNotContain(OPENAI_KEY).doesNotContain(ANTHROPIC_KEY).contains("***");
			assertThat(this.client.status(listener.streamId()).toString()).doesNotContain(OPENAI_KEY)
				.doesNotContain(ANTHROPIC_KEY);
		}
		assertThat(Logs.written(output)).contains(": upstream call to ")
			.doesNotContain(OPENAI_KEY)
			.doesNotContain(ANTHROPIC_KEY);
	}

}
