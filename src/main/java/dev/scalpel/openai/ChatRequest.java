package dev.scalpel.openai;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.jspecify.annotations.Nullable;
import tools.jackson.databind.JsonNode;

import dev.scalpel.stream.InvalidRequest;
import dev.scalpel.stream.StartStreamRequest;
import dev.scalpel.stream.StartStreamRequest.MessageBody;

/**
 * A {@code POST /v1/chat/completions} body, read as OpenAI defines it and turned into a start of a
 * managed stream. Fields this version does not know are ignored, as OpenAI's own clients expect of
 * a compatible server; fields it knows but cannot honour are refused with a {@code 400} that names
 * them, rather than silently giving another answer than the caller asked for.
 * @param start the stream to start (model, messages, max tokens, temperature, metadata), validated
 * further by the stream manager as any start is
 * @param options the provider options passed through, by their OpenAI names
 * @param stream whether the answer is streamed ({@code stream: true})
 * @param includeUsage whether a streamed answer ends with a usage chunk
 * ({@code stream_options.include_usage})
 */
record ChatRequest(StartStreamRequest start, Map<String, Object> options, boolean stream, boolean includeUsage) {

	/**
	 * Fields passed to the provider as they are: OpenAI-compatible servers take them all; the
	 * Anthropic protocol takes those it has an equivalent for (top_p, stop, user).
	 */
	static final Set<String> PASSED_THROUGH = Set.of("top_p", "stop", "seed", "response_format", "user",
			"frequency_penalty", "presence_penalty", "logit_bias", "reasoning_effort", "service_tier",
			"max_completion_tokens", "tools", "tool_choice", "parallel_tool_calls");

	/** Fields known and refused: what they ask for, this version cannot give. */
	private static final Map<String, String> REFUSED = Map.of("functions",
			"the deprecated function calling is not supported: use tools", "function_call",
			"the deprecated function calling is not supported: use tool_choice", "logprobs",
			"log probabilities are not supported", "audio", "audio output is not supported");

	static ChatRequest parse(@Nullable JsonNode body) {
		if (body == null || !body.isObject()) {
			throw InvalidRequest.invalid("body", "must be a JSON object");
		}
		for (Map.Entry<String, String> refused : REFUSED.entrySet()) {
			JsonNode value = body.path(refused.getKey());
			boolean asked = !value.isMissingNode() && !value.isNull()
					&& !(refused.getKey().equals("logprobs") && value.isBoolean() && !value.asBoolean())
					&& !(value.isArray() && value.isEmpty());
			if (asked) {
				throw InvalidRequest.invalid(refused.getKey(), refused.getValue());
			}
		}
		JsonNode n = body.path("n");
		if (!n.isMissingNode() && !n.isNull() && !(n.isIntegralNumber() && n.asLong() == 1)) {
			throw InvalidRequest.invalid("n", "only one choice (n = 1) is supported");
		}
		String model = string(body, "model");
		List<MessageBody> messages = messages(body.path("messages"));
		Integer maxTokens = integer(body, "max_completion_tokens");
		if (maxTokens == null) {
			maxTokens = integer(body, "max_tokens");
		}
		Double temperature = number(body, "temperature");
		boolean stream = bool(body, "stream");
		JsonNode streamOptions = body.path("stream_options");
		boolean includeUsage = streamOptions.isObject() && bool(streamOptions, "include_usage");
		Map<String, Object> metadata = metadata(body.path("metadata"));
		Map<String, Object> options = new LinkedHashMap<>();
		for (String name : PASSED_THROUGH) {
			JsonNode value = body.path(name);
			if (!value.isMissingNode() && !value.isNull()) {
				options.put(name, value);
			}
		}
		if (toolConversation(body.path("messages"))) {
			// The tool results and the assistant's calls go to the provider as the client sent them; the
			// stream manager checks the text of the conversation, and that its provider takes tools.
			options.put("messages", body.path("messages"));
		}
		StartStreamRequest start = new StartStreamRequest(model, messages, null, maxTokens, temperature, false,
				metadata);
		return new ChatRequest(start, options, stream, includeUsage);
	}

	/**
	 * The conversation. {@code developer} is OpenAI's newer name for {@code system}; content may be a
	 * string or a list of text parts (joined); other parts (images, audio, files) and the tool roles
	 * are refused. Roles and sizes are checked again by the stream manager.
	 */
	private static List<MessageBody> messages(JsonNode messages) {
		if (messages.isMissingNode() || messages.isNull()) {
			throw InvalidRequest.invalid("messages", "is required");
		}
		if (!messages.isArray()) {
			throw InvalidRequest.invalid("messages", "must be an array");
		}
		List<MessageBody> bodies = new ArrayList<>();
		int index = 0;
		for (JsonNode message : messages) {
			String field = "messages[" + index++ + "]";
			if (!message.isObject()) {
				throw InvalidRequest.invalid(field, "must be an object");
			}
			JsonNode role = message.path("role");
			if (!role.isString()) {
				throw InvalidRequest.invalid(field + ".role", "is required, a string");
			}
			String name = role.asString();
			if (name.equals("function")) {
				throw InvalidRequest.invalid(field + ".role", "the deprecated function role is not supported: use tool");
			}
			String content = content(message.path("content"), field + ".content");
			if (name.equals("tool")) {
				// A tool's result is input to the model; it goes upstream as sent (see toolConversation).
				bodies.add(new MessageBody("user", (content != null) ? content : ""));
			}
			else if (name.equals("assistant") && content == null && message.path("tool_calls").isArray()) {
				bodies.add(new MessageBody("assistant", ""));
			}
			else {
				bodies.add(new MessageBody(name.equals("developer") ? "system" : name, content));
			}
		}
		return bodies;
	}

	/** Whether the conversation holds tool results or the assistant's tool calls. */
	private static boolean toolConversation(JsonNode messages) {
		for (JsonNode message : messages) {
			if ("tool".equals(message.path("role").asString(null)) || message.has("tool_calls")) {
				return true;
			}
		}
		return false;
	}

	private static @Nullable String content(JsonNode content, String field) {
		if (content.isString()) {
			return content.asString();
		}
		if (content.isArray()) {
			StringBuilder text = new StringBuilder();
			int index = 0;
			for (JsonNode part : content) {
				String partField = field + "[" + index++ + "]";
				if (!part.isObject() || !"text".equals(part.path("type").asString(null))
						|| !part.path("text").isString()) {
					throw InvalidRequest.invalid(partField, "only text parts ({\"type\": \"text\", \"text\": ...}) are supported");
				}
				text.append(part.path("text").asString());
			}
			return text.toString();
		}
		if (content.isMissingNode() || content.isNull()) {
			// The stream manager names the missing content.
			return null;
		}
		throw InvalidRequest.invalid(field, "must be a string or an array of text parts");
	}

	private static @Nullable Map<String, Object> metadata(JsonNode metadata) {
		if (metadata.isMissingNode() || metadata.isNull()) {
			return null;
		}
		if (!metadata.isObject()) {
			throw InvalidRequest.invalid("metadata", "must be an object of strings");
		}
		Map<String, Object> values = new LinkedHashMap<>();
		for (Map.Entry<String, JsonNode> entry : metadata.properties()) {
			// Non-strings are named by the stream manager's check.
			values.put(entry.getKey(), entry.getValue().isString() ? entry.getValue().asString() : entry.getValue());
		}
		return values;
	}

	private static @Nullable String string(JsonNode body, String field) {
		JsonNode value = body.path(field);
		if (value.isMissingNode() || value.isNull()) {
			return null;
		}
		if (!value.isString()) {
			throw InvalidRequest.invalid(field, "must be a string");
		}
		return value.asString();
	}

	private static @Nullable Integer integer(JsonNode body, String field) {
		JsonNode value = body.path(field);
		if (value.isMissingNode() || value.isNull()) {
			return null;
		}
		if (!value.isIntegralNumber() || !value.canConvertToInt()) {
			throw InvalidRequest.invalid(field, "must be a whole number");
		}
		return value.asInt();
	}

	private static @Nullable Double number(JsonNode body, String field) {
		JsonNode value = body.path(field);
		if (value.isMissingNode() || value.isNull()) {
			return null;
		}
		if (!value.isNumber()) {
			throw InvalidRequest.invalid(field, "must be a number");
		}
		return value.asDouble();
	}

	private static boolean bool(JsonNode body, String field) {
		JsonNode value = body.path(field);
		if (value.isMissingNode() || value.isNull()) {
			return false;
		}
		if (!value.isBoolean()) {
			throw InvalidRequest.invalid(field, "must be true or false");
		}
		return value.asBoolean();
	}

}
