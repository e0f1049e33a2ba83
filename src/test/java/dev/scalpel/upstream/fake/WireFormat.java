package dev.scalpel.upstream.fake;

import java.util.ArrayList;
import java.util.List;

import org.jspecify.annotations.Nullable;
import tools.jackson.core.io.JsonStringEncoder;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * The Server-Sent Events and error bodies of a model provider's streaming API, each frame complete
 * with its terminating blank line.
 */
enum WireFormat {

	/** OpenAI's (and compatible servers') {@code POST /v1/chat/completions}. */
	OPENAI("/v1/chat/completions") {

		@Override
		List<String> opening(Reply reply) {
			ObjectNode chunk = chunk(reply);
			ObjectNode choice = chunk.putArray("choices").addObject().put("index", 0);
			choice.putObject("delta").put("role", "assistant").put("content", "");
			choice.putNull("finish_reason");
			return List.of(data(reply, chunk));
		}

		@Override
		String token(Reply reply, String token) {
			String delta = token.startsWith(Script.RAW_DELTA) ? token.substring(Script.RAW_DELTA.length())
					: "{\"content\":" + quoted(token) + "}";
			// Written out rather than built as a tree: the bench's upstream sends tens of thousands of
			// these a second, and the tree cost more than everything else it does per token. The same
			// chunk as tokenTree (WireFormatTest holds the two equal).
			return "data: {\"id\":\"chatcmpl-" + reply.seq() + "\",\"object\":\"chat.completion.chunk\",\"created\":"
					+ reply.createdEpochSecond() + ",\"model\":" + quoted(reply.model())
					+ ",\"choices\":[{\"index\":0,\"delta\":" + delta + ",\"finish_reason\":null}]"
					+ (reply.usageChunk() ? ",\"usage\":null}\n\n" : "}\n\n");
		}

		@Override
		String tokenTree(Reply reply, String token) {
			ObjectNode chunk = chunk(reply);
			ObjectNode choice = chunk.putArray("choices").addObject().put("index", 0);
			choice.putObject("delta").put("content", token);
			choice.putNull("finish_reason");
			return data(reply, chunk);
		}

		@Override
		List<String> closing(Reply reply) {
			List<String> frames = new ArrayList<>();
			ObjectNode finish = chunk(reply);
			ObjectNode choice = finish.putArray("choices").addObject().put("index", 0);
			choice.putObject("delta");
			choice.put("finish_reason", reply.script().finishReason);
			frames.add(data(reply, finish));
			if (reply.usageChunk()) {
				ObjectNode usage = chunk(reply);
				usage.putArray("choices");
				int input = reply.script().inputTokens;
				int output = reply.script().outputTokens();
				usage.putObject("usage")
					.put("prompt_tokens", input)
					.put("completion_tokens", output)
					.put("total_tokens", input + output);
				frames.add(data(reply, usage));
			}
			frames.add("data: [DONE]\n\n");
			return frames;
		}

		@Override
		String errorEvent(String type, String message) {
			return "data: " + errorBody(type, message) + "\n\n";
		}

		@Override
		String malformedEvent() {
			return "data: {\"choices\":[{\"delta\":\n\n";
		}

		@Override
		String errorBody(String type, String message) {
			ObjectNode body = JSON.createObjectNode();
			body.putObject("error").put("message", message).put("type", type).putNull("param").putNull("code");
			return body.toString();
		}

		/** A chunk's common fields. */
		private ObjectNode chunk(Reply reply) {
			return JSON.createObjectNode()
				.put("id", "chatcmpl-" + reply.seq())
				.put("object", "chat.completion.chunk")
				.put("created", reply.createdEpochSecond())
				.put("model", reply.model());
		}

		/**
		 * The frame of a chunk. Like OpenAI, every chunk carries {@code "usage": null} when usage
		 * was requested, and only the last one has a value.
		 */
		private static String data(Reply reply, ObjectNode chunk) {
			if (reply.usageChunk() && !chunk.has("usage")) {
				chunk.putNull("usage");
			}
			return "data: " + chunk + "\n\n";
		}

	},

	/** Anthropic's {@code POST /v1/messages}. */
	ANTHROPIC("/v1/messages") {

		@Override
		List<String> opening(Reply reply) {
			ObjectNode start = JSON.createObjectNode().put("type", "message_start");
			ObjectNode message = start.putObject("message")
				.put("id", "msg_" + reply.seq())
				.put("type", "message")
				.put("role", "assistant")
				.put("model", reply.model());
			message.putArray("content");
			message.putNull("stop_reason").putNull("stop_sequence");
			if (reply.script().usage) {
				message.putObject("usage").put("input_tokens", reply.script().inputTokens).put("output_tokens", 1);
			}
			ObjectNode blockStart = JSON.createObjectNode().put("type", "content_block_start").put("index", 0);
			blockStart.putObject("content_block").put("type", "text").put("text", "");
			return List.of(event("message_start", start), event("content_block_start", blockStart),
					event("ping", JSON.createObjectNode().put("type", "ping")));
		}

		@Override
		String token(Reply reply, String token) {
			return "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
					+ "\"delta\":{\"type\":\"text_delta\",\"text\":" + quoted(token) + "}}\n\n";
		}

		@Override
		String tokenTree(Reply reply, String token) {
			ObjectNode delta = JSON.createObjectNode().put("type", "content_block_delta").put("index", 0);
			delta.putObject("delta").put("type", "text_delta").put("text", token);
			return event("content_block_delta", delta);
		}

		@Override
		List<String> closing(Reply reply) {
			ObjectNode messageDelta = JSON.createObjectNode().put("type", "message_delta");
			messageDelta.putObject("delta")
				.put("stop_reason", stopReason(reply.script().finishReason))
				.putNull("stop_sequence");
			if (reply.script().usage) {
				messageDelta.putObject("usage").put("output_tokens", reply.script().outputTokens());
			}
			ObjectNode blockStop = JSON.createObjectNode().put("type", "content_block_stop").put("index", 0);
			return List.of(event("content_block_stop", blockStop), event("message_delta", messageDelta),
					event("message_stop", JSON.createObjectNode().put("type", "message_stop")));
		}

		@Override
		String errorEvent(String type, String message) {
			return "event: error\ndata: " + errorBody(type, message) + "\n\n";
		}

		@Override
		String malformedEvent() {
			return "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":\n\n";
		}

		@Override
		String errorBody(String type, String message) {
			ObjectNode body = JSON.createObjectNode().put("type", "error");
			body.putObject("error").put("type", type).put("message", message);
			return body.toString();
		}

		private static String stopReason(String finishReason) {
			return switch (finishReason) {
				case "stop" -> "end_turn";
				case "length" -> "max_tokens";
				case "content_filter" -> "refusal";
				default -> finishReason;
			};
		}

		private static String event(String type, ObjectNode json) {
			return "event: " + type + "\ndata: " + json + "\n\n";
		}

	};

	private static final JsonMapper JSON = JsonMapper.shared();

	private final String path;

	WireFormat(String path) {
		this.path = path;
	}

	/** The format served on this path, or {@code null}. */
	static @Nullable WireFormat forPath(String path) {
		for (WireFormat format : values()) {
			if (format.path.equals(path)) {
				return format;
			}
		}
		return null;
	}

	/** The events sent right after the headers, before any token. */
	abstract List<String> opening(Reply reply);

	/** The event carrying one token. */
	abstract String token(Reply reply, String token);

	/** The same event as {@link #token}, built as a JSON tree: the reference it is tested against. */
	abstract String tokenTree(Reply reply, String token);

	/** A JSON string literal. */
	static String quoted(String text) {
		StringBuilder json = new StringBuilder(text.length() + 8).append('"');
		JsonStringEncoder.getInstance().quoteAsString(text, json);
		return json.append('"').toString();
	}

	/** The events of a normal end: finish reason, usage, end marker. */
	abstract List<String> closing(Reply reply);

	/** The provider's in-stream error event. */
	abstract String errorEvent(String type, String message);

	/** An event whose JSON is cut short. */
	abstract String malformedEvent();

	/** The provider's error body for a non-2xx answer. */
	abstract String errorBody(String type, String message);

	/**
	 * One streamed reply.
	 * @param script what to send
	 * @param seq the request's number, for the message id
	 * @param model the model named in the request
	 * @param includeUsage whether the request asked for usage ({@code stream_options.include_usage})
	 * @param createdEpochSecond when the reply was created
	 */
	record Reply(Script script, int seq, String model, boolean includeUsage, long createdEpochSecond) {

		static Reply of(Script script, int seq, @Nullable JsonNode request) {
			String model = (request != null) ? request.path("model").asString("") : "";
			boolean includeUsage = request != null
					&& request.path("stream_options").path("include_usage").asBoolean(false);
			return new Reply(script, seq, model, includeUsage, System.currentTimeMillis() / 1000);
		}

		/** Whether an OpenAI reply ends with a usage chunk. */
		boolean usageChunk() {
			return this.includeUsage && this.script.usage;
		}

	}

}
