package dev.scalpel.openai;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Objects;

import com.openai.client.OpenAIClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.InternalServerException;
import com.openai.errors.RateLimitException;
import com.openai.errors.UnexpectedStatusCodeException;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.jspecify.annotations.Nullable;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

import dev.scalpel.slot.SlotPool;
import dev.scalpel.support.Await;
import dev.scalpel.support.OpenAiClients;
import dev.scalpel.support.ScalpelTest;
import dev.scalpel.support.FakeControlledTokenSource;
import dev.scalpel.upstream.fake.Endpoints;
import dev.scalpel.upstream.fake.Script;
import dev.scalpel.upstream.fake.TestUpstream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatExceptionOfType;

/**
 * What OpenAI's SDK sees when Scalpel refuses or cannot finish: {@code 429} with
 * {@code Retry-After} when every slot is busy and the queue is full ({@code RateLimitException}),
 * {@code 503} when the provider's circuit breaker is open ({@code InternalServerException}), and,
 * for an answer that is not streamed, {@code 409} for a stream cancelled from elsewhere (with
 * {@code x-should-retry: false}) and {@code 502} for a provider failure; a refused call creates no
 * stream.
 */
@ScalpelTest(properties = { "scalpel.slots.max=1", "scalpel.queue.max=0", "scalpel.upstream.retry.max-attempts=1" })
class ChatCompletionsRefusalsEndToEndTest {

	private static final TestUpstream upstream = TestUpstream.start();

	@Value("${local.server.port}")
	int port;

	@Autowired
	SlotPool slots;

	@Autowired
	FakeControlledTokenSource controlled;

	@Autowired
	CircuitBreakerRegistry breakers;

	private OpenAIClient openai;

	@DynamicPropertySource
	static void endpoints(DynamicPropertyRegistry registry) {
		Endpoints.register(registry, 0, "compatible", "openai", upstream::baseUrl, null, "gpt-test");
	}

	@BeforeEach
	void client() {
		upstream.reset();
		this.controlled.reset();
		this.openai = OpenAiClients.scalpel(this.port);
	}

	@AfterEach
	void nothingIsHeld() {
		this.openai.close();
		this.breakers.circuitBreaker("compatible").transitionToClosedState();
		Await.atMost(Duration.ofSeconds(5)).until(() -> this.slots.inUse() == 0 && this.controlled.open() == 0);
	}

	@Test
	void allSlotsBusyAndTheQueueFullIsARateLimitWithRetryAfter() {
		try (StreamResponse<ChatCompletionChunk> holder = this.openai.chat()
			.completions()
			.createStreaming(params(FakeControlledTokenSource.MODEL))) {
			Await.atMost(Duration.ofSeconds(5)).until(() -> this.slots.inUse() == 1);

			assertThatExceptionOfType(RateLimitException.class)
				.isThrownBy(() -> this.openai.chat().completions().create(params("simulated")))
				.satisfies(failure -> {
					assertThat(failure.statusCode()).isEqualTo(429);
					assertThat(failure.headers().values("Retry-After")).singleElement()
						.satisfies(seconds -> assertThat(Integer.parseInt(seconds)).isPositive());
					assertThat(failure.type()).hasValue("rate_limit_error");
					assertThat(failure.code()).hasValue("overloaded");
				});
			assertThat(this.slots.inUse()).isEqualTo(1);
		}
	}

	@Test
	void anOpenCircuitBreakerIsAServiceUnavailable() {
		this.breakers.circuitBreaker("compatible").transitionToOpenState();

		assertThatExceptionOfType(InternalServerException.class)
			.isThrownBy(() -> this.openai.chat().completions().create(params("gpt-test")))
			.satisfies(failure -> {
				assertThat(failure.statusCode()).isEqualTo(503);
				assertThat(failure.headers().values("Retry-After")).hasSize(1);
				assertThat(failure.code()).hasValue("upstream_unavailable");
				assertThat(failure.type()).hasValue("server_error");
			});
		assertThat(this.breakers.circuitBreaker("compatible").getState()).isEqualTo(CircuitBreaker.State.OPEN);
	}

	@Test
	void aCompletionNotStreamedThatIsCancelledFromElsewhereIsAConflictNotToBeRetried() throws Exception {
		Thread canceller = new Thread(() -> {
			FakeControlledTokenSource.Call call = this.controlled.nextCall(Duration.ofSeconds(5));
			call.token("partial");
			String id = Await.atMost(Duration.ofSeconds(5)).until(this::liveStreamId, Objects::nonNull);
			post("/v1/streams/" + id + "/cancel");
		});
		canceller.start();

		assertThatExceptionOfType(UnexpectedStatusCodeException.class)
			.isThrownBy(() -> this.openai.chat().completions().create(params(FakeControlledTokenSource.MODEL)))
			.satisfies(failure -> {
				assertThat(failure.statusCode()).isEqualTo(409);
				assertThat(failure.headers().values("x-should-retry")).containsExactly("false");
				assertThat(failure.code()).hasValue("cancel_requested");
				assertThat(failure.type()).hasValue("stream_cancelled");
			});
		canceller.join(5000);
	}

	@Test
	void aProviderFailureOfACompletionNotStreamedIsABadGateway() {
		upstream.enqueue(Script.tokens("a").error(500, "server_error", "boom"));

		assertThatExceptionOfType(InternalServerException.class)
			.isThrownBy(() -> this.openai.chat().completions().create(params("gpt-test")))
			.satisfies(failure -> {
				assertThat(failure.statusCode()).isEqualTo(502);
				assertThat(failure.code()).hasValue("upstream_error");
			});
	}

	private @Nullable String liveStreamId() {
		String body = post("/v1/streams?status=in_progress", "GET");
		JsonNode data = JsonMapper.shared().readTree(body).path("data");
		return data.isEmpty() ? null : data.path(0).path("id").asString();
	}

	private String post(String path) {
		return post(path, "POST");
	}

	private String post(String path, String method) {
		try {
			HttpRequest request = HttpRequest.newBuilder(URI.create("http://localhost:" + this.port + path))
				.method(method, HttpRequest.BodyPublishers.noBody())
				.build();
			return HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofString()).body();
		}
		catch (Exception ex) {
			throw new IllegalStateException(ex);
		}
	}

	private static ChatCompletionCreateParams params(String model) {
		return ChatCompletionCreateParams.builder().model(model).addUserMessage("Say hello").build();
	}

}
