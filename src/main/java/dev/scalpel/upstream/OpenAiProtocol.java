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
 * OpenAI's chat completions, as every OpenAI-compatible server speaks them (vLLM, TGI, Ollama,
 * llama.cpp, LM Studio, Groq, Together, ...): {@code data: <chunk>} events ending with
 * {@code data: [DONE]}, usage in a last chunk when {@code stream_options.include_usage} asks for it.
 */
final class OpenAiProtocol implements Protocol {

	private final JsonMapper json;

	OpenAiProtocol(JsonMapper json) {
		this.json = json;
	}

	@Override
	public String path() {
		return "/chat/completions";
	}

	@Override
	public void headers(HttpHeaders headers, ProviderProperties.Endpoint endpoint) {
		if (endpoint.hasApiKey()) {
			headers.setBearerAuth(endpoint.apiKey());
		}
	}

	@Override
	public Map<String, Object> body(GenerationRequest request, ProviderProperties.Endpoint endpoint) {
		Map<String, Object> body = new LinkedHashMap<>();
		body.put("model", request.model());
		List<Map<String, String>> messages = new ArrayList<>();
		for (Message message : request.messages()) {
			messages.add(Json.turn(message));
		}
		body.put("messages", messages);
		body.put("stream", true);
		if (endpoint.includeUsage()) {
			body.put("stream_options", Map.of("include_usage", true));
		}
		if (request.maxTokens() != null) {
			body.put("max_tokens", request.maxTokens());
		}
		if (request.temperature() != null) {
			body.put("temperature", request.temperature());
		}
		return body;
	}

	@Override
	public Reader reader(String endpoint) {
		return new ChunkReader(endpoint);
	}

	@Override
	public @Nullable ProviderError error(JsonNode root) {
		JsonNode error = root.path("error");
		if (error.isObject()) {
			return new ProviderError(Json.text(error, "type", Json.text(error, "code", null)),
					Json.text(error, "message", null));
		}
		if (error.isString()) {
			// Some compatible servers (Ollama, TGI) answer {"error": "message"}.
			return new ProviderError(null, error.asString());
		}
		return null;
	}

	private final class ChunkReader implements Reader {

		private final String endpoint;

		private @Nullable String finishReason;

		private @Nullable Integer promptTokens;

		private @Nullable Integer completionTokens;

		private int tokens;

		private boolean done;

		ChunkReader(String endpoint) {
			this.endpoint = endpoint;
		}

		@Override
		public @Nullable Chunk read(ServerSentEvent<String> event) {
			String data = event.data();
			if (this.done || data == null || data.isEmpty()) {
				return null;
			}
			if ("[DONE]".equals(data.strip())) {
				this.done = true;
				return finished();
			}
			JsonNode chunk = Json.parse(OpenAiProtocol.this.json, data, this.endpoint);
			JsonNode error = chunk.path("error");
			if (!error.isMissingNode() && !error.isNull()) {
				throw Json.streamError(this.endpoint, error(chunk));
			}
			JsonNode usage = chunk.path("usage");
			if (usage.isObject()) {
				this.promptTokens = Json.integer(usage, "prompt_tokens");
				this.completionTokens = Json.integer(usage, "completion_tokens");
			}
			JsonNode choice = chunk.path("choices").path(0);
			if (choice.isMissingNode()) {
				return null;
			}
			String reason = Json.text(choice, "finish_reason", null);
			if (reason != null) {
				this.finishReason = reason;
			}
			String content = Json.text(choice.path("delta"), "content", null);
			if (content == null || content.isEmpty()) {
				return null;
			}
			this.tokens++;
			return new Chunk.Token(content);
		}

		@Override
		public Chunk.@Nullable Finished end() {
			if (this.done) {
				return null;
			}
			if (this.finishReason != null) {
				// A server that said how it finished but closed without [DONE] has still finished.
				return finished();
			}
			throw Json.incomplete(this.endpoint);
		}

		private Chunk.Finished finished() {
			this.done = true;
			String reason = "length".equals(this.finishReason) ? "length" : "stop";
			return new Chunk.Finished(reason, new Usage(this.promptTokens,
					(this.completionTokens != null) ? this.completionTokens : this.tokens));
		}

	}

}
