package dev.scalpel.openai;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.jspecify.annotations.Nullable;
import tools.jackson.core.io.JsonStringEncoder;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import dev.scalpel.stream.StreamView;

/**
 * OpenAI's wire format for one managed stream: the chunks of a streamed answer
 * ({@code chat.completion.chunk}, {@code data: [DONE]} at the end), the error event that ends a
 * stream that failed or was cancelled, and the single {@code chat.completion} of an answer that is
 * not streamed. Every chunk's {@code id} is the stream id. The per-token chunk is written by hand
 * around the token's JSON literal, already escaped, taken from the stream's event; the rest, once
 * per stream, through the mapper.
 */
final class ChatChunks {

	/** The end of a streamed answer that finished, as OpenAI sends it. */
	static final byte[] DONE = "data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8);

	private final JsonMapper json;

	private final String id;

	private final long created;

	private final String model;

	/** Everything of a chunk before its delta: {@code {"id":...,"choices":[{"index":0,"delta":}. */
	private final String prefix;

	ChatChunks(JsonMapper json, StreamView view) {
		this.json = json;
		this.id = view.id();
		this.created = Instant.parse(view.createdAt()).getEpochSecond();
		this.model = view.model();
		this.prefix = "data: {\"id\":" + quote(this.id) + ",\"object\":\"chat.completion.chunk\",\"created\":"
				+ this.created + ",\"model\":" + quote(this.model) + ",\"choices\":[{\"index\":0,\"delta\":";
	}

	/** The first chunk: the assistant's role, no text yet. */
	byte[] role() {
		return bytes(this.prefix + "{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
	}

	/** A chunk of text; {@code literal} is the text as a JSON string literal. */
	byte[] token(String literal) {
		return bytes(this.prefix + "{\"content\":" + literal + "},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
	}

	/** A chunk of tool calls; {@code json} is the provider's {@code tool_calls} pieces as they came. */
	byte[] toolCalls(String json) {
		return bytes(this.prefix + "{\"tool_calls\":" + json + "},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
	}

	/** The last chunk of a finished answer: empty delta, the finish reason. */
	byte[] finish(String reason) {
		return bytes(this.prefix + "{},\"logprobs\":null,\"finish_reason\":" + quote(reason) + "}]}\n\n");
	}

	/** The usage chunk ({@code stream_options.include_usage}): no choices. */
	byte[] usage(JsonNode status) {
		Map<String, Object> chunk = new LinkedHashMap<>();
		chunk.put("id", this.id);
		chunk.put("object", "chat.completion.chunk");
		chunk.put("created", this.created);
		chunk.put("model", this.model);
		chunk.put("choices", List.of());
		chunk.put("usage", counts(status.path("usage")));
		return bytes("data: " + this.json.writeValueAsString(chunk) + "\n\n");
	}

	/**
	 * The event that ends a stream that did not finish, in the shape OpenAI's SDKs raise as an error
	 * ({@code SseException} in Java, {@code APIError} in Python and Node):
	 * {@code data: {"error":{"message":...,"type":...,"param":null,"code":...}}}.
	 */
	byte[] error(Failure failure) {
		return bytes("data: " + this.json.writeValueAsString(Map.of("error", failure.body())) + "\n\n");
	}

	/** The answer of a request that was not streamed. */
	byte[] completion(String content, List<Map<String, Object>> toolCalls, JsonNode status) {
		Map<String, Object> message = new LinkedHashMap<>();
		message.put("role", "assistant");
		message.put("content", (content.isEmpty() && !toolCalls.isEmpty()) ? null : content);
		message.put("refusal", null);
		if (!toolCalls.isEmpty()) {
			message.put("tool_calls", toolCalls);
		}
		Map<String, Object> choice = new LinkedHashMap<>();
		choice.put("index", 0);
		choice.put("message", message);
		choice.put("logprobs", null);
		choice.put("finish_reason", status.path("finish_reason").asString("stop"));
		Map<String, Object> completion = new LinkedHashMap<>();
		completion.put("id", this.id);
		completion.put("object", "chat.completion");
		completion.put("created", this.created);
		completion.put("model", this.model);
		completion.put("choices", List.of(choice));
		completion.put("usage", counts(status.path("usage")));
		return this.json.writeValueAsBytes(completion);
	}

	/**
	 * OpenAI's usage from the stream's: the provider's input count, or 0 when it did not report one
	 * (OpenAI's clients require a number).
	 */
	private static Map<String, Object> counts(JsonNode usage) {
		int input = usage.path("input_tokens").isIntegralNumber() ? usage.path("input_tokens").asInt() : 0;
		int output = usage.path("output_tokens").asInt(0);
		Map<String, Object> counts = new LinkedHashMap<>();
		counts.put("prompt_tokens", input);
		counts.put("completion_tokens", output);
		counts.put("total_tokens", input + output);
		return counts;
	}

	/**
	 * Why a stream ended without an answer, as an OpenAI error and the HTTP status an answer that is
	 * not streamed gets for it.
	 * @param status the HTTP status
	 * @param message what happened, for people
	 * @param type the error's type ({@code upstream_error}, {@code timeout}, {@code stream_cancelled}, ...)
	 * @param code the stream's finish reason ({@code cancel_requested}, {@code upstream_error}, ...)
	 */
	record Failure(int status, String message, String type, @Nullable String code) {

		/** The failure a terminal status object (failed or cancelled) describes. */
		static Failure of(JsonNode status) {
			String reason = status.path("finish_reason").asString("internal_error");
			if ("cancelled".equals(status.path("status").asString(null))) {
				// 409 (the stream's state, not the request, is at fault) with x-should-retry: false, so
				// that no SDK starts the generation again on its own; 503 when the service is stopping.
				return new Failure("shutdown".equals(reason) ? 503 : 409, "The stream was cancelled (" + reason + ").",
						"stream_cancelled", reason);
			}
			JsonNode error = status.path("error");
			String type = error.path("type").asString("upstream_error");
			String message = error.path("message").asString("The generation failed.");
			int code = switch (reason) {
				case "timeout" -> 504;
				case "queue_timeout" -> 503;
				case "internal_error" -> 500;
				default -> 502;
			};
			return new Failure(code, message, type, reason);
		}

		Map<String, Object> body() {
			Map<String, Object> body = new LinkedHashMap<>();
			body.put("message", this.message);
			body.put("type", this.type);
			body.put("param", null);
			body.put("code", this.code);
			return body;
		}

	}

	private static String quote(String text) {
		StringBuilder quoted = new StringBuilder(text.length() + 2).append('"');
		JsonStringEncoder.getInstance().quoteAsString(text, quoted);
		return quoted.append('"').toString();
	}

	private static byte[] bytes(String text) {
		return text.getBytes(StandardCharsets.UTF_8);
	}

}
