package dev.scalpel.upstream;

import java.util.LinkedHashMap;
import java.util.Map;

import org.jspecify.annotations.Nullable;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.MissingNode;

/** Reading providers' JSON: what is malformed fails the call, what is merely absent is null. */
final class Json {

	private Json() {
	}

	/** A chunk of a stream; {@link UpstreamFailure.Kind#MALFORMED} when it is not a JSON object. */
	static JsonNode parse(JsonMapper json, String data, String endpoint) {
		JsonNode node;
		try {
			node = json.readTree(data);
		}
		catch (JacksonException ex) {
			throw new UpstreamFailure(endpoint, UpstreamFailure.Kind.MALFORMED, null, null,
					"the provider sent a chunk that is not valid JSON", null, null);
		}
		if (node == null || !node.isObject()) {
			throw new UpstreamFailure(endpoint, UpstreamFailure.Kind.MALFORMED, null, null,
					"the provider sent a chunk that is not a JSON object", null, null);
		}
		return node;
	}

	/** A body that may or may not be JSON (an error body): its tree, or a missing node. */
	static JsonNode tree(JsonMapper json, String body) {
		try {
			JsonNode node = json.readTree(body);
			return (node != null) ? node : MissingNode.getInstance();
		}
		catch (JacksonException ex) {
			return MissingNode.getInstance();
		}
	}

	static @Nullable String text(JsonNode node, String field, @Nullable String otherwise) {
		JsonNode value = node.path(field);
		return (value.isString() || value.isNumber()) ? value.asString() : otherwise;
	}

	static @Nullable Integer integer(JsonNode node, String field) {
		JsonNode value = node.path(field);
		return value.isIntegralNumber() && value.canConvertToInt() ? value.asInt() : null;
	}

	/** A turn of the conversation as both protocols send it, role first. */
	static Map<String, String> turn(Message message) {
		Map<String, String> turn = new LinkedHashMap<>();
		turn.put("role", message.role());
		turn.put("content", message.content());
		return turn;
	}

	/** An error event in the middle of a stream, with what the provider said of it. */
	static UpstreamFailure streamError(String endpoint, Protocol.@Nullable ProviderError described) {
		return new UpstreamFailure(endpoint, UpstreamFailure.Kind.STREAM_ERROR, null,
				(described != null) ? described.type() : null, "the provider reported an error mid-stream"
						+ ((described != null && described.message() != null) ? ": " + described.message() : ""),
				null, null);
	}

	static UpstreamFailure incomplete(String endpoint) {
		return new UpstreamFailure(endpoint, UpstreamFailure.Kind.INCOMPLETE, null, null,
				"the provider's stream ended without finishing", null, null);
	}

}
