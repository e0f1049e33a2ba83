package dev.scalpel.openai;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import io.swagger.v3.oas.annotations.Operation;
import io.swagger.v3.oas.annotations.tags.Tag;
import org.jspecify.annotations.Nullable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.http.HttpHeaders;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.security.core.annotation.AuthenticationPrincipal;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.server.ServerWebExchange;

import dev.scalpel.stream.Caller;
import dev.scalpel.stream.EventType;
import dev.scalpel.stream.FinishReason;
import dev.scalpel.stream.StreamEvent;
import dev.scalpel.stream.StreamManager;
import dev.scalpel.stream.StreamProperties;
import dev.scalpel.stream.StreamStatus;
import dev.scalpel.system.AcceptHeader;
import dev.scalpel.system.EventStream;
import dev.scalpel.system.UnreadListeners;

/**
 * {@code POST /v1/chat/completions}: OpenAI's chat completions, streamed ({@code stream: true}) or
 * not, each one a managed stream like those of {@code /v1/streams}. It takes a slot, appears in
 * status, metrics and {@code /actuator/streams}, carries its id in {@code X-Stream-Id} and as every
 * chunk's {@code id}, can be cancelled with {@code POST /v1/streams/{id}/cancel}, and is cancelled
 * ({@code client_disconnected}) the moment its client closes the connection.
 */
@RestController
@Tag(name = "openai", description = "OpenAI-compatible front door")
class ChatCompletionsController {

	private final StreamManager manager;

	private final JsonMapper json;

	private final Duration heartbeat;

	ChatCompletionsController(StreamManager manager, JsonMapper json, StreamProperties properties) {
		this.manager = manager;
		this.json = json;
		this.heartbeat = properties.heartbeatInterval();
	}

	@Operation(summary = "Create a chat completion (OpenAI-compatible)",
			description = "With stream: true the answer is OpenAI's SSE chunks, ending with data: [DONE]; a stream "
					+ "that fails or is cancelled ends with an error event instead. Without, one chat.completion.")
	@PostMapping(path = "/v1/chat/completions", consumes = MediaType.APPLICATION_JSON_VALUE)
	Mono<ResponseEntity<?>> create(@RequestBody JsonNode body, @RequestHeader HttpHeaders headers,
			@AuthenticationPrincipal Caller caller, ServerWebExchange exchange) {
		// Deferred so that a refusal leaves as an error signal, not wrapped by reflection (StreamController.start).
		return Mono.defer(() -> created(body, headers, caller, exchange));
	}

	private Mono<ResponseEntity<?>> created(JsonNode body, HttpHeaders headers, Caller caller,
			ServerWebExchange exchange) {
		ChatRequest chat = ChatRequest.parse(body);
		// Read now, not first when the answer is written: by then the stream would exist.
		AcceptHeader.parse(headers);
		StreamManager.Opened opened = this.manager.open(caller, chat.start(), chat.options());
		UnreadListeners.register(exchange, opened.abandon());
		ChatChunks chunks = new ChatChunks(this.json, opened.view());
		String id = opened.view().id();
		if (chat.stream()) {
			Flux<byte[]> frames = opened.batches().handle((batch, sink) -> {
				byte[] frame = EventStream.join(batch, event -> frame(chunks, event, chat.includeUsage()));
				if (frame != null) {
					sink.next(frame);
				}
			});
			// In redis mode the id goes out once other replicas can find the stream (as for the native start).
			return this.manager.shared(id).thenReturn(ResponseEntity.ok()
				.header("X-Stream-Id", id)
				.header(HttpHeaders.CACHE_CONTROL, "no-cache")
				.header("X-Accel-Buffering", "no")
				.contentType(MediaType.TEXT_EVENT_STREAM)
				.body(EventStream.withHeartbeats(frames, this.heartbeat)));
		}
		// Not streamed: the text is gathered (as JSON, from the events' literals) until the end. If the
		// client leaves first, the subscription is cancelled and with it the stream.
		return opened.events()
			.collect(() -> new Answer(this.json), Answer::add)
			.map(answer -> answer(chunks, id, answer));
	}

	/** The SSE frame an event becomes, or null for events OpenAI's format has nothing for. */
	private byte @Nullable [] frame(ChatChunks chunks, StreamEvent event, boolean includeUsage) {
		EventType type = event.eventType();
		if (type == null) {
			return null;
		}
		return switch (type) {
			case CREATED -> chunks.role();
			case TOKEN -> chunks.token(event.tokenLiteral());
			case TOOL_CALLS -> chunks.toolCalls(event.toolCallsJson());
			case COMPLETED -> {
				JsonNode status = this.json.readTree(event.data());
				byte[] finish = chunks.finish(status.path("finish_reason").asString("stop"));
				byte[] usage = includeUsage ? chunks.usage(status) : new byte[0];
				yield concat(finish, usage, ChatChunks.DONE);
			}
			case FAILED, CANCELLED ->
				chunks.error(ChatChunks.Failure.of(this.json.readTree(event.data())));
			default -> null;
		};
	}

	private ResponseEntity<?> answer(ChatChunks chunks, String id, Answer answer) {
		// Without a terminal event (it cannot happen), as a stream that failed on a defect of ours.
		JsonNode status = (answer.terminal != null) ? this.json.readTree(answer.terminal.data())
				: this.json.createObjectNode()
					.put("status", FinishReason.INTERNAL_ERROR.status().wireName())
					.put("finish_reason", FinishReason.INTERNAL_ERROR.wireName());
		if (StreamStatus.COMPLETED.wireName().equals(status.path("status").asString(null))) {
			String content = this.json.readValue("\"" + answer.text + "\"", String.class);
			return ResponseEntity.ok()
				.header("X-Stream-Id", id)
				.contentType(MediaType.APPLICATION_JSON)
				.body(chunks.completion(content, answer.toolCalls(), status));
		}
		ChatChunks.Failure failure = ChatChunks.Failure.of(status);
		ResponseEntity.BodyBuilder response = ResponseEntity.status(failure.status())
			.header("X-Stream-Id", id)
			.contentType(MediaType.APPLICATION_JSON);
		if (failure.status() == 409) {
			// OpenAI's SDKs retry a 409 unless told not to: a cancelled stream must not start again.
			response.header("x-should-retry", "false");
		}
		return response.body(this.json.writeValueAsBytes(Map.of("error", failure.body())));
	}

	private static byte[] concat(byte[]... parts) {
		int length = 0;
		for (byte[] part : parts) {
			length += part.length;
		}
		byte[] all = new byte[length];
		int at = 0;
		for (byte[] part : parts) {
			System.arraycopy(part, 0, all, at, part.length);
			at += part.length;
		}
		return all;
	}

	/**
	 * An answer that is not streamed, gathered: its text as the inside of a JSON string, its tool
	 * calls put together from their pieces, and how it ended.
	 */
	private static final class Answer {

		private final JsonMapper json;

		private final StringBuilder text = new StringBuilder();

		/** Tool calls by their index: id, type and name as they first came, arguments concatenated. */
		private final TreeMap<Integer, ToolCall> toolCalls = new TreeMap<>();

		private @Nullable StreamEvent terminal;

		Answer(JsonMapper json) {
			this.json = json;
		}

		void add(StreamEvent event) {
			if (event.is(EventType.TOKEN)) {
				// Escaped strings concatenate: the inside of each literal, one after the other, is the
				// inside of the whole text's literal.
				String literal = event.tokenLiteral();
				this.text.append(literal, 1, literal.length() - 1);
			}
			else if (event.is(EventType.TOOL_CALLS)) {
				for (JsonNode piece : this.json.readTree(event.toolCallsJson())) {
					int index = piece.path("index").asInt(this.toolCalls.size());
					this.toolCalls.computeIfAbsent(index, key -> new ToolCall()).add(piece);
				}
			}
			else if (event.terminal()) {
				this.terminal = event;
			}
		}

		List<Map<String, Object>> toolCalls() {
			return this.toolCalls.values().stream().map(ToolCall::toMap).toList();
		}

	}

	/** One tool call, from its pieces. */
	private static final class ToolCall {

		private @Nullable String id;

		private String type = "function";

		private @Nullable String name;

		private final StringBuilder arguments = new StringBuilder();

		void add(JsonNode piece) {
			if (this.id == null && piece.path("id").isString()) {
				this.id = piece.path("id").asString();
			}
			if (piece.path("type").isString()) {
				this.type = piece.path("type").asString();
			}
			JsonNode function = piece.path("function");
			if (this.name == null && function.path("name").isString()) {
				this.name = function.path("name").asString();
			}
			if (function.path("arguments").isString()) {
				this.arguments.append(function.path("arguments").asString());
			}
		}

		Map<String, Object> toMap() {
			Map<String, Object> function = new LinkedHashMap<>();
			function.put("name", (this.name != null) ? this.name : "");
			function.put("arguments", this.arguments.toString());
			Map<String, Object> call = new LinkedHashMap<>();
			call.put("id", (this.id != null) ? this.id : "");
			call.put("type", this.type);
			call.put("function", function);
			return call;
		}

	}

}
