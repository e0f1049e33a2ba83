package dev.scalpel.upstream;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.jspecify.annotations.Nullable;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.http.HttpHeaders;
import org.springframework.http.codec.ServerSentEvent;

/**
 * Anthropic's Messages API: named events ({@code message_start} with the input tokens,
 * {@code content_block_delta} with text, {@code message_delta} with the stop reason and output
 * tokens, {@code message_stop}), errors as an {@code error} event.
 */
final class AnthropicProtocol implements Protocol {

	private final JsonMapper json;

	AnthropicProtocol(JsonMapper json) {
		this.json = json;
	}

	@Override
	public String path() {
		return "/messages";
	}

	@Override
	public void headers(HttpHeaders headers, ProviderProperties.Endpoint endpoint) {
		if (endpoint.hasApiKey()) {
			headers.set("x-api-key", endpoint.apiKey());
		}
		headers.set("anthropic-version", endpoint.anthropicVersion());
	}

	@Override
	public Map<String, Object> body(GenerationRequest request, ProviderProperties.Endpoint endpoint) {
		Map<String, Object> body = new LinkedHashMap<>();
		body.put("model", request.model());
		body.put("max_tokens", (request.maxTokens() != null) ? request.maxTokens() : endpoint.defaultMaxTokens());
		// The Messages API takes system prompts apart from the turns.
		List<String> system = new ArrayList<>();
		List<Map<String, String>> messages = new ArrayList<>();
		for (Message message : request.messages()) {
			if ("system".equals(message.role())) {
				system.add(message.content());
			}
			else {
				messages.add(Json.turn(message));
			}
		}
		if (!system.isEmpty()) {
			body.put("system", String.join("\n\n", system));
		}
		body.put("messages", messages);
		body.put("stream", true);
		if (request.temperature() != null) {
			// Anthropic's range is 0 to 1, OpenAI's 0 to 2.
			body.put("temperature", Math.min(1.0, request.temperature()));
		}
		// The options the Messages API has, in its terms; the others (seed, penalties, ...) it lacks.
		Object topP = request.options().get("top_p");
		if (topP != null) {
			body.put("top_p", topP);
		}
		Object stop = request.options().get("stop");
		if (stop instanceof JsonNode node && node.isString()) {
			body.put("stop_sequences", List.of(node.asString()));
		}
		else if (stop instanceof JsonNode node && node.isArray()) {
			body.put("stop_sequences", node);
		}
		Object user = request.options().get("user");
		if (user instanceof JsonNode node && node.isString()) {
			body.put("metadata", Map.of("user_id", node.asString()));
		}
		return body;
	}

	@Override
	public Reader reader(String endpoint) {
		return new EventReader(endpoint);
	}

	@Override
	public @Nullable ProviderError error(JsonNode root) {
		JsonNode error = root.path("error");
		return error.isObject() ? new ProviderError(Json.text(error, "type", null), Json.text(error, "message", null))
				: null;
	}

	private final class EventReader implements Reader {

		private final String endpoint;

		private @Nullable Integer inputTokens;

		private @Nullable Integer outputTokens;

		private @Nullable String stopReason;

		private int tokens;

		private boolean done;

		EventReader(String endpoint) {
			this.endpoint = endpoint;
		}

		@Override
		public @Nullable Chunk read(ServerSentEvent<String> event) {
			String data = event.data();
			if (this.done || data == null || data.isEmpty()) {
				return null;
			}
			JsonNode node = Json.parse(AnthropicProtocol.this.json, data, this.endpoint);
			String type = (event.event() != null) ? event.event() : Json.text(node, "type", "");
			switch (type) {
				case "message_start" -> {
					JsonNode usage = node.path("message").path("usage");
					this.inputTokens = Json.integer(usage, "input_tokens");
					return null;
				}
				case "content_block_delta" -> {
					JsonNode delta = node.path("delta");
					String text = "text_delta".equals(Json.text(delta, "type", null)) ? Json.text(delta, "text", null)
							: null;
					if (text == null || text.isEmpty()) {
						return null;
					}
					this.tokens++;
					return new Chunk.Token(text);
				}
				case "message_delta" -> {
					this.stopReason = Json.text(node.path("delta"), "stop_reason", this.stopReason);
					Integer output = Json.integer(node.path("usage"), "output_tokens");
					if (output != null) {
						this.outputTokens = output;
					}
					Integer input = Json.integer(node.path("usage"), "input_tokens");
					if (input != null) {
						this.inputTokens = input;
					}
					return null;
				}
				case "message_stop" -> {
					this.done = true;
					String reason = "max_tokens".equals(this.stopReason) ? "length"
							: "refusal".equals(this.stopReason) ? "content_filter" : "stop";
					return new Chunk.Finished(reason,
							new Usage(this.inputTokens, (this.outputTokens != null) ? this.outputTokens : this.tokens));
				}
				case "error" -> {
					throw Json.streamError(this.endpoint, error(node));
				}
				default -> {
					// ping, content_block_start, content_block_stop, and event types added later.
					return null;
				}
			}
		}

		@Override
		public Chunk.@Nullable Finished end() {
			if (this.done) {
				return null;
			}
			throw Json.incomplete(this.endpoint);
		}

	}

}
