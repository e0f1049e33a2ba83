package dev.scalpel.openai;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.beans.factory.annotation.Value;

import dev.scalpel.slot.SlotPool;
import dev.scalpel.stream.StreamManager;
import dev.scalpel.support.ScalpelTest;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Malformed and unsupported chat completion requests: each answered with a {@code 4xx} in OpenAI's
 * error shape that says what is wrong, none creating a stream or taking a slot, none a {@code 5xx}.
 */
@ScalpelTest
class ChatCompletionsBadInputTest {

	private static final JsonMapper JSON = JsonMapper.shared();

	@Value("${local.server.port}")
	int port;

	@Autowired
	SlotPool slots;

	@Autowired
	StreamManager manager;

	private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

	@ParameterizedTest
	@CsvSource(delimiter = '|', textBlock = """
			{not json                                                                    | 400 |
			[1, 2]                                                                       | 400 |
			"text"                                                                       | 400 |
			{}                                                                           | 400 | messages
			{"messages": "hi"}                                                           | 400 | messages
			{"messages": []}                                                             | 400 |
			{"messages": [7]}                                                            | 400 | messages[0]
			{"messages": [{"content": "hi"}]}                                            | 400 | messages[0].role
			{"messages": [{"role": "pirate", "content": "hi"}]}                          | 400 |
			{"messages": [{"role": "user"}]}                                             | 400 |
			{"messages": [{"role": "user", "content": {"text": "hi"}}]}                  | 400 | messages[0].content
			{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]} | 400 | messages[0].content[0]
			{"messages": [{"role": "tool", "content": "42", "tool_call_id": "c"}]}      | 400 | messages
			{"messages": [{"role": "function", "content": "42", "name": "f"}]}          | 400 | messages[0].role
			{"functions": [{"name": "f"}], "messages": [{"role": "user", "content": "hi"}]} | 400 | functions
			{"model": 7, "messages": [{"role": "user", "content": "hi"}]}                | 400 | model
			{"model": "nope", "messages": [{"role": "user", "content": "hi"}]}           | 404 |
			{"stream": "yes", "messages": [{"role": "user", "content": "hi"}]}           | 400 | stream
			{"max_tokens": 1.5, "messages": [{"role": "user", "content": "hi"}]}         | 400 | max_tokens
			{"max_tokens": 99999999999, "messages": [{"role": "user", "content": "hi"}]} | 400 | max_tokens
			{"max_tokens": 0, "messages": [{"role": "user", "content": "hi"}]}           | 400 | max_tokens
			{"temperature": "hot", "messages": [{"role": "user", "content": "hi"}]}      | 400 | temperature
			{"temperature": 3, "messages": [{"role": "user", "content": "hi"}]}          | 400 | temperature
			{"n": 2, "messages": [{"role": "user", "content": "hi"}]}                    | 400 | n
			{"tools": [{"type": "function", "function": {"name": "f"}}], "messages": [{"role": "user", "content": "hi"}]} | 400 | tools
			{"logprobs": true, "messages": [{"role": "user", "content": "hi"}]}          | 400 | logprobs
			{"metadata": [1], "messages": [{"role": "user", "content": "hi"}]}           | 400 | metadata
			{"stream_options": {"include_usage": 1}, "messages": [{"role": "user", "content": "hi"}]} | 400 | include_usage
			""")
	void aBadRequestIsAnOpenAiErrorAndCreatesNothing(String body, int status, String param) throws Exception {
		HttpResponse<String> response = post(body, "application/json");

		assertThat(response.statusCode()).as(body).isEqualTo(status);
		assertThat(response.headers().firstValue("Content-Type")).hasValueSatisfying(
				type -> assertThat(type).startsWith("application/json"));
		JsonNode error = JSON.readTree(response.body()).path("error");
		assertThat(error.path("message").asString()).as(body).isNotBlank();
		assertThat(error.path("type").asString()).isEqualTo("invalid_request_error");
		assertThat(error.path("code").isString()).isTrue();
		if (param != null) {
			assertThat(error.path("param").asString()).as(body).isEqualTo(param);
		}
		assertThat(response.body()).doesNotContain("Exception", "jackson", "at dev.");
		assertThat(this.slots.inUse()).isZero();
	}

	@ParameterizedTest
	@ValueSource(strings = { "text/plain", "application/x-www-form-urlencoded" })
	void aBodyThatIsNotJsonIsAnUnsupportedMediaType(String contentType) throws Exception {
		HttpResponse<String> response = post("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", contentType);

		assertThat(response.statusCode()).isEqualTo(415);
		assertThat(JSON.readTree(response.body()).path("error").path("code").asString())
			.isEqualTo("unsupported_media_type");
	}

	/**
	 * Found by the hostile-input property test: an unreadable Accept was refused only when the answer
	 * was written, after the stream had been created (and its first listener never left).
	 */
	@ParameterizedTest
	@ValueSource(strings = { "*/*;q=abc", "application/json;q=2", "text/event-stream;;q=x/",
			"*/*, */*, */*, */*, */*, */*, */*, */*, */*, */*, */*, */*, */*, */*, */*, */*, */*, */*, */*, */*, "
					+ "*/*, */*, */*, */*, */*, */*, */*, */*, */*, */*, */*, */*, */*, */*, */*, */*, */*, */*, */*, */*, "
					+ "*/*, */*, */*, */*, */*, */*, */*, */*, */*, */*, */*, */*" })
	void anUnreadableAcceptIsRefusedBeforeAnythingIsCreated(String accept) throws Exception {
		for (boolean stream : new boolean[] { true, false }) {
			HttpRequest request = HttpRequest.newBuilder(URI.create("http://localhost:" + this.port + "/v1/chat/completions"))
				.header("Content-Type", "application/json")
				.header("Accept", accept)
				.POST(HttpRequest.BodyPublishers.ofString(
						"{\"stream\":" + stream + ",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"))
				.timeout(Duration.ofSeconds(10))
				.build();
			HttpResponse<String> response = this.http.send(request, HttpResponse.BodyHandlers.ofString());

			assertThat(response.statusCode()).as(accept).isEqualTo(400);
			assertThat(response.headers().firstValue("X-Stream-Id")).as("no stream").isEmpty();
			assertThat(JSON.readTree(response.body()).path("error").path("type").asString()).isEqualTo("invalid_request_error");
			assertThat(this.manager.liveCount()).isZero();
			assertThat(this.manager.listenerCount()).isZero();
		}
	}

	private HttpResponse<String> post(String body, String contentType) throws Exception {
		HttpRequest request = HttpRequest.newBuilder(URI.create("http://localhost:" + this.port + "/v1/chat/completions"))
			.header("Content-Type", contentType)
			.POST(HttpRequest.BodyPublishers.ofString(body))
			.timeout(Duration.ofSeconds(10))
			.build();
		return this.http.send(request, HttpResponse.BodyHandlers.ofString());
	}

}
