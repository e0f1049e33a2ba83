package dev.scalpel.openai;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;

import com.openai.client.OpenAIClient;
import com.openai.core.JsonValue;
import com.openai.core.http.HttpResponseFor;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.errors.SseException;
import com.openai.models.FunctionDefinition;
import com.openai.models.ResponseFormatJsonObject;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionFunctionTool;
import com.openai.models.chat.completions.ChatCompletionMessageFunctionToolCall;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.chat.completions.ChatCompletionToolMessageParam;
import io.micrometer.core.instrument.MeterRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
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
import dev.scalpel.upstream.fake.Endpoints;
import dev.scalpel.upstream.fake.Script;
import dev.scalpel.upstream.fake.TestUpstream;
import dev.scalpel.upstream.fake.UpstreamConnection;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatExceptionOfType;

/**
 * The OpenAI-compatible front door driven by the official OpenAI Java SDK, unchanged but for its
 * base URL: completions streamed and not, on {@code simulated} and on an OpenAI-compatible test
 * upstream; every call a managed stream (its id in {@code X-Stream-Id} and as the chunk id, its
 * status in {@code /v1/streams}); the SDK closing its stream mid-way frees the slot and closes the
 * upstream connection within 100 ms; a cancel from another connection ends the SDK's iteration with
 * an error it recognises; request fields reach the provider.
 */
@ScalpelTest(properties = { "scalpel.upstream.idle-connection-time=300ms" })
class ChatCompletionsSdkEndToEndTest {

	private static final TestUpstream upstream = TestUpstream.start();

	private static final JsonMapper JSON = JsonMapper.shared();

	@Value("${local.server.port}")
	int port;

	@Autowired
	SlotPool slots;

	@Autowired
	MeterRegistry meters;

	private OpenAIClient openai;

	private final HttpClient http = HttpClient.newHttpClient();

	@DynamicPropertySource
	static void endpoints(DynamicPropertyRegistry registry) {
		Endpoints.register(registry, 0, "compatible", "openai", upstream::baseUrl, "sk-test-0123456789", "gpt-test");
	}

	@AfterAll
	static void noConnectionIsLeftOpen() {
		upstream.closeWhenAllClosed(Duration.ofSeconds(10));
	}

	@BeforeEach
	void client() {
		upstream.reset();
		this.openai = OpenAiClients.scalpel(this.port);
	}

	@AfterEach
	void nothingIsHeld() {
		this.openai.close();
		Await.atMost(Duration.ofSeconds(5)).until(() -> this.slots.inUse() == 0 && this.slots.queued() == 0);
	}

	@Test
	void aCompletionThatIsNotStreamedIsOneManagedStream() throws Exception {
		HttpResponseFor<ChatCompletion> response = this.openai.chat()
			.completions()
			.withRawResponse()
			.create(params("simulated").build());

		ChatCompletion completion = response.parse();
		String streamId = response.headers().values("X-Stream-Id").get(0);
		assertThat(completion.id()).isEqualTo(streamId).startsWith("str_");
		assertThat(completion.model()).isEqualTo("simulated");
		assertThat(completion.choices()).hasSize(1);
		assertThat(completion.choices().get(0).message().content()).hasValueSatisfying(text -> assertThat(text).isNotBlank());
		assertThat(completion.choices().get(0).finishReason()).isEqualTo(ChatCompletion.Choice.FinishReason.STOP);
		assertThat(completion.usage()).hasValueSatisfying(usage -> assertThat(usage.completionTokens()).isPositive());
		JsonNode status = status(streamId);
		assertThat(status.path("status").asString()).isEqualTo("completed");
		assertThat(status.path("usage").path("output_tokens").asLong())
			.isEqualTo(completion.usage().orElseThrow().completionTokens());
	}

	@Test
	void aStreamedCompletionGivesTheSameTextChunkByChunkWithItsUsageLast() {
		String whole = this.openai.chat().completions().create(params("simulated").build()).choices().get(0)
			.message().content().orElseThrow();

		List<ChatCompletionChunk> chunks = new ArrayList<>();
		try (StreamResponse<ChatCompletionChunk> stream = this.openai.chat()
			.completions()
			.createStreaming(params("simulated")
				.streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build())
				.build())) {
			stream.stream().forEach(chunks::add);
		}

		String streamId = chunks.get(0).id();
		assertThat(chunks).allSatisfy(chunk -> assertThat(chunk.id()).isEqualTo(streamId));
		assertThat(text(chunks)).isEqualTo(whole);
		ChatCompletionChunk last = chunks.get(chunks.size() - 1);
		assertThat(last.choices()).isEmpty();
		assertThat(last.usage()).hasValueSatisfying(usage -> assertThat(usage.completionTokens()).isPositive());
		assertThat(chunks.get(chunks.size() - 2).choices().get(0).finishReason())
			.hasValue(ChatCompletionChunk.Choice.FinishReason.STOP);
		assertThat(status(streamId).path("status").asString()).isEqualTo("completed");
	}

	@Test
	void aProvidersAnswerComesThroughStreamedAndNotWithItsUsageAndTheRequestFieldsReachIt() {
		upstream.enqueue(Script.tokens("Bonjour", ", ", "monde").usage(12, 3));
		upstream.enqueue(Script.tokens("Hello", " again").usage(9, 2));

		ChatCompletionCreateParams request = params("gpt-test").temperature(0.3)
			.topP(0.9)
			.seed(42)
			.stop("END")
			.user("u-42")
			.maxCompletionTokens(64)
			.responseFormat(ResponseFormatJsonObject.builder().build())
			.putAdditionalBodyProperty("some_future_field", JsonValue.from("ignored"))
			.build();
		List<ChatCompletionChunk> chunks = new ArrayList<>();
		try (StreamResponse<ChatCompletionChunk> stream = this.openai.chat().completions().createStreaming(request)) {
			stream.stream().forEach(chunks::add);
		}
		ChatCompletion completion = this.openai.chat().completions().create(request);

		assertThat(text(chunks)).isEqualTo("Bonjour, monde");
		assertThat(completion.choices().get(0).message().content()).hasValue("Hello again");
		assertThat(completion.usage().orElseThrow().promptTokens()).isEqualTo(9);
		assertThat(completion.usage().orElseThrow().completionTokens()).isEqualTo(2);
		JsonNode sent = upstream.requests().get(0).json();
		assertThat(sent.path("model").asString()).isEqualTo("gpt-test");
		assertThat(sent.path("stream").asBoolean()).isTrue();
		assertThat(sent.path("temperature").asDouble()).isEqualTo(0.3);
		assertThat(sent.path("top_p").asDouble()).isEqualTo(0.9);
		assertThat(sent.path("seed").asInt()).isEqualTo(42);
		assertThat(sent.path("stop").asString()).isEqualTo("END");
		assertThat(sent.path("user").asString()).isEqualTo("u-42");
		assertThat(sent.path("max_completion_tokens").asInt()).isEqualTo(64);
		assertThat(sent.has("max_tokens")).as("max_completion_tokens is sent instead").isFalse();
		assertThat(sent.path("response_format").path("type").asString()).isEqualTo("json_object");
		assertThat(sent.has("some_future_field")).as("unknown fields are ignored, not passed on").isFalse();
		assertThat(sent.path("messages").path(0).path("content").asString()).isEqualTo("Say hello");
	}

	@Test
	void toolCallsComeBackStreamedAndNotAndTheToolResultsGoToTheProviderAsSent() {
		String[] pieces = { "{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\","
				+ "\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}",
				"{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]}",
				"{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]}" };
		upstream.enqueue(Script.deltas(pieces).finishReason("tool_calls"));
		upstream.enqueue(Script.deltas(pieces).finishReason("tool_calls"));
		upstream.enqueue(Script.tokens("It is 18 degrees."));
		ChatCompletionCreateParams ask = params("gpt-test")
			.addTool(ChatCompletionFunctionTool.builder()
				.function(FunctionDefinition.builder().name("get_weather").build())
				.build())
			.build();

		List<ChatCompletionChunk> chunks = new ArrayList<>();
		try (StreamResponse<ChatCompletionChunk> stream = this.openai.chat().completions().createStreaming(ask)) {
			stream.stream().forEach(chunks::add);
		}
		ChatCompletion completion = this.openai.chat().completions().create(ask);

		StringBuilder arguments = new StringBuilder();
		List<String> ids = new ArrayList<>();
		List<String> names = new ArrayList<>();
		for (ChatCompletionChunk chunk : chunks) {
			for (ChatCompletionChunk.Choice choice : chunk.choices()) {
				choice.delta().toolCalls().ifPresent(calls -> calls.forEach(call -> {
					call.id().ifPresent(ids::add);
					call.function().flatMap(function -> function.name()).ifPresent(names::add);
					call.function().flatMap(function -> function.arguments()).ifPresent(arguments::append);
				}));
			}
		}
		assertThat(ids).containsExactly("call_1");
		assertThat(names).containsExactly("get_weather");
		assertThat(arguments).hasToString("{\"city\":\"Paris\"}");
		assertThat(chunks.get(chunks.size() - 1).choices().get(0).finishReason())
			.hasValue(ChatCompletionChunk.Choice.FinishReason.TOOL_CALLS);
		ChatCompletion.Choice choice = completion.choices().get(0);
		assertThat(choice.finishReason()).isEqualTo(ChatCompletion.Choice.FinishReason.TOOL_CALLS);
		ChatCompletionMessageFunctionToolCall call = choice.message().toolCalls().orElseThrow().get(0).asFunction();
		assertThat(call.id()).isEqualTo("call_1");
		assertThat(call.function().name()).isEqualTo("get_weather");
		assertThat(call.function().arguments()).isEqualTo("{\"city\":\"Paris\"}");
		assertThat(status(completion.id()).path("finish_reason").asString()).isEqualTo("tool_calls");

		ChatCompletion answer = this.openai.chat()
			.completions()
			.create(params("gpt-test").addMessage(choice.message())
				.addMessage(ChatCompletionToolMessageParam.builder().toolCallId("call_1").content("18C").build())
				.build());

		assertThat(answer.choices().get(0).message().content()).hasValue("It is 18 degrees.");
		JsonNode asked = upstream.requests().get(0).json();
		assertThat(asked.path("tools").path(0).path("function").path("name").asString()).isEqualTo("get_weather");
		JsonNode followUp = upstream.requests().get(2).json().path("messages");
		assertThat(followUp.path(1).path("role").asString()).isEqualTo("assistant");
		assertThat(followUp.path(1).path("tool_calls").path(0).path("id").asString()).isEqualTo("call_1");
		assertThat(followUp.path(2).path("role").asString()).isEqualTo("tool");
		assertThat(followUp.path(2).path("tool_call_id").asString()).isEqualTo("call_1");
		assertThat(followUp.path(2).path("content").asString()).isEqualTo("18C");
	}

	@Test
	void toolsForAModelWhoseProviderDoesNotTakeThemAreRefused() {
		assertThatExceptionOfType(BadRequestException.class).isThrownBy(() -> this.openai.chat()
			.completions()
			.create(params("simulated").addTool(ChatCompletionFunctionTool.builder()
				.function(FunctionDefinition.builder().name("get_weather").build())
				.build()).build()))
			.satisfies(failure -> assertThat(failure.param()).hasValue("tools"));
	}

	@Test
	void closingTheSdksStreamMidwayFreesTheSlotAndClosesTheUpstreamConnectionWithin100Ms() {
		upstream.enqueue(Script.words(200).interval(Duration.ofMillis(20)));

		StreamResponse<ChatCompletionChunk> stream = this.openai.chat()
			.completions()
			.createStreaming(params("gpt-test").build());
		Iterator<ChatCompletionChunk> chunks = stream.stream().iterator();
		String streamId = chunks.next().id();
		while (text(List.of(chunks.next())).isEmpty()) {
			// up to the first token: the generation is under way
		}
		UpstreamConnection connection = upstream.awaitRequest(Duration.ofSeconds(5)).connection();
		assertThat(this.slots.inUse()).isEqualTo(1);
		long wall = System.currentTimeMillis();
		long nanos = System.nanoTime();

		stream.close();

		// The SDK (OkHttp) reads on for up to 100 ms before it closes a connection whose body it did not
		// read to its end; from the moment the disconnect reaches Scalpel (the stream's cancelled_at),
		// the upstream connection is closed and the slot free within 100 ms.
		connection.awaitClosed(Duration.ofSeconds(5), nanos);
		Await.atMost(Duration.ofSeconds(5)).until(() -> this.slots.inUse() == 0);
		JsonNode status = status(streamId);
		assertThat(status.path("status").asString()).isEqualTo("cancelled");
		assertThat(status.path("finish_reason").asString()).isEqualTo("client_disconnected");
		long disconnectedAt = Instant.parse(status.path("cancelled_at").asString()).toEpochMilli();
		long upstreamClosedAt = wall + Duration.ofNanos(connection.closedNanos() - nanos).toMillis();
		// cancelled_at has millisecond precision: 1 ms of slack.
		assertThat(upstreamClosedAt - disconnectedAt).isLessThanOrEqualTo(101);
		assertThat(this.meters.get("scalpel.slot.release").tag("trigger", "disconnect").timer().max(TimeUnit.MILLISECONDS))
			.isLessThanOrEqualTo(100);
	}

	@Test
	void aCancelFromAnotherConnectionEndsTheSdksIterationWithAnErrorItRecognises() throws Exception {
		upstream.enqueue(Script.words(200).interval(Duration.ofMillis(20)));

		try (StreamResponse<ChatCompletionChunk> stream = this.openai.chat()
			.completions()
			.createStreaming(params("gpt-test").build())) {
			Iterator<ChatCompletionChunk> chunks = stream.stream().iterator();
			String streamId = chunks.next().id();
			chunks.next();

			HttpResponse<String> cancel = this.http.send(
					HttpRequest.newBuilder(URI.create(base() + "/v1/streams/" + streamId + "/cancel"))
						.POST(HttpRequest.BodyPublishers.noBody())
						.build(),
					HttpResponse.BodyHandlers.ofString());
			assertThat(cancel.statusCode()).isEqualTo(200);

			assertThatExceptionOfType(SseException.class).isThrownBy(() -> chunks.forEachRemaining(chunk -> {
			})).satisfies(failure -> {
				assertThat(failure.code()).hasValue("cancel_requested");
				assertThat(failure.type()).hasValue("stream_cancelled");
				assertThat(failure.getMessage()).contains("cancelled");
			});
			assertThat(status(streamId).path("status").asString()).isEqualTo("cancelled");
		}
		upstream.awaitNoOpenConnections(Duration.ofSeconds(5));
	}

	@Test
	void aBadRequestAndAnUnknownModelRaiseTheSdksExceptionsWithOpenAisErrorFields() {
		assertThatExceptionOfType(BadRequestException.class)
			.isThrownBy(() -> this.openai.chat().completions().create(params("simulated").temperature(7.0).build()))
			.satisfies(failure -> {
				assertThat(failure.statusCode()).isEqualTo(400);
				assertThat(failure.type()).hasValue("invalid_request_error");
				assertThat(failure.param()).hasValue("temperature");
				assertThat(failure.code()).hasValue("invalid_request");
			});
		assertThatExceptionOfType(NotFoundException.class)
			.isThrownBy(() -> this.openai.chat().completions().create(params("no-such-model").build()))
			.satisfies(failure -> {
				assertThat(failure.code()).hasValue("model_not_found");
				assertThat(failure.getMessage()).contains("no-such-model");
			});
		assertThatExceptionOfType(NotFoundException.class).isThrownBy(() -> this.openai.chat()
			.completions()
			.createStreaming(params("no-such-model").build())
			.stream()
			.forEach(chunk -> {
			}));
		assertThat(this.slots.inUse()).isZero();
	}

	@Test
	void theModelListIsOpenAisList() {
		assertThat(this.openai.models().list().data()).extracting(model -> model.id())
			.contains("simulated", "gpt-test");
	}

	@Test
	void aModelIsRetrievedAndAnUnknownOneRaisesTheSdksNotFoundWithOpenAisErrorCode() {
		assertThat(this.openai.models().retrieve("simulated").ownedBy()).isEqualTo("scalpel");
		assertThat(this.openai.models().retrieve("gpt-test").id()).isEqualTo("gpt-test");
		assertThatExceptionOfType(NotFoundException.class).isThrownBy(() -> this.openai.models().retrieve("no-such-model"))
			.satisfies(failure -> {
				assertThat(failure.statusCode()).isEqualTo(404);
				assertThat(failure.code()).contains("model_not_found");
				assertThat(failure.type()).contains("invalid_request_error");
			});
	}

	private static ChatCompletionCreateParams.Builder params(String model) {
		return ChatCompletionCreateParams.builder().model(model).addUserMessage("Say hello");
	}

	private static String text(List<ChatCompletionChunk> chunks) {
		StringBuilder text = new StringBuilder();
		for (ChatCompletionChunk chunk : chunks) {
			for (ChatCompletionChunk.Choice choice : chunk.choices()) {
				choice.delta().content().ifPresent(text::append);
			}
		}
		return text.toString();
	}

	private JsonNode status(String id) {
		try {
			HttpResponse<String> response = this.http.send(
					HttpRequest.newBuilder(URI.create(base() + "/v1/streams/" + id)).GET().build(),
					HttpResponse.BodyHandlers.ofString());
			return JSON.readTree(response.body());
		}
		catch (Exception ex) {
			throw new IllegalStateException(ex);
		}
	}

	private String base() {
		return "http://localhost:" + this.port;
	}

}
