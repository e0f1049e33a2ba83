package dev.scalpel.upstream;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.jspecify.annotations.Nullable;
import tools.jackson.core.JacksonException;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.core.ObjectReadContext;
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
		// A tool conversation's messages (tool results, the assistant's calls) go as the client sent them.
		Object raw = request.options().get("messages");
		body.put("messages", (raw != null) ? raw : messages);
		body.put("stream", true);
		if (endpoint.includeUsage()) {
			body.put("stream_options", Map.of("include_usage", true));
		}
		if (request.maxTokens() != null && !request.options().containsKey("max_completion_tokens")) {
			body.put("max_tokens", request.maxTokens());
		}
		if (request.temperature() != null) {
			body.put("temperature", request.temperature());
		}
		// Compatible servers take OpenAI's own fields as they are (max_completion_tokens, which reasoning
		// models want instead of max_tokens, top_p, stop, seed, response_format, user, ...).
		request.options().forEach(body::putIfAbsent);
		return body;
	}

	@Override
	public Reader reader(String endpoint) {
		return new ChunkReader(endpoint, true);
	}

	/** A reader that always builds the chunk's tree: the reference the scanning reader is tested against. */
	Reader treeReader(String endpoint) {
		return new ChunkReader(endpoint, false);
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

		private final boolean scanning;

		ChunkReader(String endpoint, boolean scanning) {
			this.endpoint = endpoint;
			this.scanning = scanning;
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
			Scanned scanned = null;
			if (this.scanning) {
				scanned = ChunkScanner.scan(data);
				if (scanned == null) {
					scanned = scan(OpenAiProtocol.this.json, data);
				}
			}
			if (scanned != null) {
				return apply(scanned);
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
			JsonNode toolCalls = choice.path("delta").path("tool_calls");
			if (toolCalls.isArray() && !toolCalls.isEmpty()) {
				this.tokens++;
				return new Chunk.ToolCalls(toolCalls.toString(), (content != null) ? content : "");
			}
			if (content == null || content.isEmpty()) {
				return null;
			}
			this.tokens++;
			return new Chunk.Token(content);
		}

		/** The same steps as the tree path above, from a scanned chunk. */
		private @Nullable Chunk apply(Scanned scanned) {
			if (scanned.usage()) {
				this.promptTokens = scanned.promptTokens();
				this.completionTokens = scanned.completionTokens();
			}
			if (!scanned.choice()) {
				return null;
			}
			if (scanned.finishReason() != null) {
				this.finishReason = scanned.finishReason();
			}
			String content = scanned.content();
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
			String reason = ("length".equals(this.finishReason) || "tool_calls".equals(this.finishReason)
					|| "content_filter".equals(this.finishReason)) ? this.finishReason : "stop";
			return new Chunk.Finished(reason, new Usage(this.promptTokens,
					(this.completionTokens != null) ? this.completionTokens : this.tokens));
		}

	}

	/**
	 * What a chunk of the common shape says, read from the parser's tokens without building a tree
	 * (the tree cost a seventh of the event loop's time in the {@code steady} benchmark).
	 * @param usage whether the chunk has a {@code usage} object
	 * @param promptTokens its {@code prompt_tokens}
	 * @param completionTokens its {@code completion_tokens}
	 * @param choice whether the chunk has a first choice
	 * @param finishReason the first choice's {@code finish_reason}
	 * @param content the first choice's {@code delta.content}
	 */
	record Scanned(boolean usage, @Nullable Integer promptTokens, @Nullable Integer completionTokens, boolean choice,
			@Nullable String finishReason, @Nullable String content) {
	}

	/**
	 * Scans a chunk of the common shape: an object with, besides fields it ignores, {@code choices}
	 * (its first element an object whose {@code delta} holds only {@code role} and string
	 * {@code content}, and whose {@code finish_reason} is a string or null), {@code usage} (an object
	 * or null) and no {@code error} other than null. Returns null for any other shape (a number where
	 * a string is expected, an error, a tool call, ...), which the tree path then reads: the two give
	 * the same answers (OpenAiProtocolScanTest holds them to it). Malformed JSON is refused as the
	 * tree path refuses it.
	 */
	static @Nullable Scanned scan(JsonMapper json, String data) {
		// Straight from the mapper's factory: the mapper's own createParser also builds a deserialization
		// context for every chunk, which the steady benchmark's allocation profile put at 4 % of all
		// that Scalpel allocates; a token-level read needs none.
		try (JsonParser parser = json.tokenStreamFactory().createParser(ObjectReadContext.empty(), data)) {
			if (parser.nextToken() != JsonToken.START_OBJECT) {
				return null;
			}
			boolean usage = false;
			Integer promptTokens = null;
			Integer completionTokens = null;
			boolean choice = false;
			String finishReason = null;
			String content = null;
			JsonToken token;
			while ((token = parser.nextToken()) == JsonToken.PROPERTY_NAME) {
				String name = parser.currentName();
				JsonToken value = parser.nextToken();
				switch (name) {
					case "error" -> {
						if (value != JsonToken.VALUE_NULL) {
							return null;
						}
					}
					case "usage" -> {
						usage = false;
						promptTokens = null;
						completionTokens = null;
						if (value == JsonToken.START_OBJECT) {
							usage = true;
							while (parser.nextToken() == JsonToken.PROPERTY_NAME) {
								String field = parser.currentName();
								JsonToken number = parser.nextToken();
								Integer count = (number == JsonToken.VALUE_NUMBER_INT
										&& parser.getNumberType() == JsonParser.NumberType.INT) ? parser.getIntValue()
												: null;
								if (field.equals("prompt_tokens")) {
									promptTokens = count;
								}
								else if (field.equals("completion_tokens")) {
									completionTokens = count;
								}
								parser.skipChildren();
							}
						}
						else if (value != JsonToken.VALUE_NULL) {
							return null;
						}
					}
					case "choices" -> {
						if (value != JsonToken.START_ARRAY) {
							return null;
						}
						choice = false;
						finishReason = null;
						content = null;
						JsonToken element = parser.nextToken();
						if (element != JsonToken.END_ARRAY) {
							if (element != JsonToken.START_OBJECT) {
								return null;
							}
							choice = true;
							while (parser.nextToken() == JsonToken.PROPERTY_NAME) {
								String field = parser.currentName();
								JsonToken fieldValue = parser.nextToken();
								if (field.equals("finish_reason")) {
									if (fieldValue == JsonToken.VALUE_STRING) {
										finishReason = parser.getString();
									}
									else if (fieldValue != JsonToken.VALUE_NULL) {
										return null;
									}
								}
								else if (field.equals("delta")) {
									if (fieldValue != JsonToken.START_OBJECT) {
										return null;
									}
									content = null;
									while (parser.nextToken() == JsonToken.PROPERTY_NAME) {
										String part = parser.currentName();
										JsonToken partValue = parser.nextToken();
										if (part.equals("content")) {
											if (partValue == JsonToken.VALUE_STRING) {
												content = parser.getString();
											}
											else if (partValue != JsonToken.VALUE_NULL) {
												return null;
											}
										}
										else if (!part.equals("role")) {
											// Tool calls, refusals, reasoning: the tree path reads them.
											return null;
										}
										parser.skipChildren();
									}
								}
								else {
									parser.skipChildren();
								}
							}
							// The other choices are not read.
							while (parser.nextToken() != JsonToken.END_ARRAY) {
								parser.skipChildren();
							}
						}
					}
					default -> parser.skipChildren();
				}
			}
			if (token != JsonToken.END_OBJECT || parser.nextToken() != null) {
				return null;
			}
			return new Scanned(usage, promptTokens, completionTokens, choice, finishReason, content);
		}
		catch (JacksonException ex) {
			// Let the tree path decide, and refuse, exactly as it does for any chunk.
			return null;
		}
	}

}
