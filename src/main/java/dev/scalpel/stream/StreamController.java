package dev.scalpel.stream;

import java.time.Duration;
import java.util.List;
import java.util.Objects;

import io.swagger.v3.oas.annotations.Operation;
import io.swagger.v3.oas.annotations.tags.Tag;
import org.jspecify.annotations.Nullable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

import com.fasterxml.jackson.annotation.JsonUnwrapped;

import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.security.core.annotation.AuthenticationPrincipal;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.server.ServerWebExchange;

import dev.scalpel.system.AcceptHeader;
import dev.scalpel.system.EventStream;
import dev.scalpel.system.UnreadListeners;

/** The native API of API.md: start, attach or resume, status, cancel and list streams. */
@RestController
@RequestMapping("/v1/streams")
@Tag(name = "streams", description = "Managed LLM streams")
class StreamController {

	static final int DEFAULT_PAGE = 20;

	static final int MAX_PAGE = 100;


	private final StreamManager manager;

	private final StreamDirectory directory;

	private final Duration heartbeat;

	private final AttachTokens tokens;

	StreamController(StreamManager manager, StreamDirectory directory, StreamProperties properties,
			AttachTokens tokens) {
		this.manager = manager;
		this.directory = directory;
		this.heartbeat = properties.heartbeatInterval();
		this.tokens = tokens;
	}

	/** The 202 answer to a start: the status object, with a token a browser can attach with. */
	record Accepted(@JsonUnwrapped StreamView view, String attachToken, String attachTokenExpiresAt) {
	}

	/** A token to attach to a stream with ({@code ?token=} on its events endpoint). */
	record AttachToken(String object, String streamId, String token, String expiresAt) {

		static AttachToken of(String streamId, AttachTokens.Issued issued) {
			return new AttachToken("attach_token", streamId, issued.token(), issued.expiresAt().toString());
		}

	}

	@Operation(summary = "Start a stream",
			description = "With Accept: text/event-stream the response is the event stream itself; "
					+ "otherwise 202 with the status object and a Location to attach to.")
	@PostMapping(consumes = MediaType.APPLICATION_JSON_VALUE)
	Mono<ResponseEntity<?>> start(@RequestBody StartStreamRequest body, @RequestHeader HttpHeaders headers,
			@AuthenticationPrincipal Caller caller, ServerWebExchange exchange) {
		// Deferred so that a refusal (429, 400, ...) leaves as an error signal, not as an exception out of
		// this method, which reflection would wrap in one more exception with a stack trace (ProblemAnswer).
		return Mono.defer(() -> started(body, headers, caller, exchange));
	}

	private Mono<ResponseEntity<?>> started(StartStreamRequest body, HttpHeaders headers, Caller caller,
			ServerWebExchange exchange) {
		boolean listen = wantsEventStream(headers);
		StreamManager.Started started = this.manager.start(caller, body, listen);
		String id = started.view().id();
		AttachTokens.Issued token = this.tokens.issue(id, caller.owner());
		ResponseEntity<?> response;
		if (started.listener() != null) {
			UnreadListeners.register(exchange, started.listener()::abandon);
			response = eventStream().header("X-Stream-Id", id)
				.header("X-Attach-Token", token.token())
				.body(sse(started.listener().batches()));
		}
		else {
			response = ResponseEntity.accepted()
				.location(java.net.URI.create("/v1/streams/" + id))
				.header("X-Stream-Id", id)
				.header("X-Attach-Token", token.token())
				.contentType(MediaType.APPLICATION_JSON)
				.body(new Accepted(started.view(), token.token(), token.expiresAt().toString()));
		}
		// In redis mode the id goes out once other replicas can find the stream: a client that attaches
		// to, or cancels, it elsewhere right away must not get 404.
		return this.manager.shared(id).thenReturn(response);
	}

	@Operation(summary = "Attach to a stream, or resume it",
			description = "Replays the retained events after Last-Event-ID (or ?after=), then follows live.")
	@GetMapping("/{id}/events")
	Mono<ResponseEntity<EventStream>> events(@PathVariable String id,
			@RequestHeader(name = "Last-Event-ID", required = false) @Nullable String lastEventId,
			@RequestParam(name = "after", required = false) @Nullable String after,
			@AuthenticationPrincipal Caller caller, ServerWebExchange exchange) {
		// The header wins: a browser's EventSource reconnects to the same URL and sends the header.
		long position = (lastEventId != null) ? position("Last-Event-ID", lastEventId)
				: (after != null) ? position("after", after) : 0;
		if (exchange.getRequest().getMethod() == HttpMethod.HEAD) {
			// The headers an attach would get, without attaching: Spring reads a HEAD answer's body to its
			// end, so a listener here would start a generation nobody reads and hold it to its end.
			return this.directory.readable(id, caller).thenReturn(eventStream().<EventStream>build());
		}
		return this.directory.events(id, position, caller).map(attached -> {
			UnreadListeners.register(exchange, attached.abandon());
			return eventStream().body(sse(attached.batches()));
		});
	}

	@Operation(summary = "Status of a stream")
	@GetMapping(path = "/{id}", produces = MediaType.APPLICATION_JSON_VALUE)
	Mono<StreamView> status(@PathVariable String id, @AuthenticationPrincipal Caller caller) {
		return this.directory.status(id, caller);
	}

	@Operation(summary = "Cancel a stream",
			description = "Idempotent. When it answers, the slot is free and the upstream call closed.")
	@PostMapping(path = "/{id}/cancel", produces = MediaType.APPLICATION_JSON_VALUE)
	Mono<StreamView> cancel(@PathVariable String id, @AuthenticationPrincipal Caller caller) {
		return this.directory.cancel(id, caller);
	}

	@Operation(summary = "A new attach token for a stream",
			description = "For the stream's owner: a short-lived token a browser's EventSource attaches with "
					+ "(?token= on the events endpoint).")
	@PostMapping(path = "/{id}/attach_token", produces = MediaType.APPLICATION_JSON_VALUE)
	Mono<AttachToken> attachToken(@PathVariable String id, @AuthenticationPrincipal Caller caller) {
		return this.directory.readable(id, caller)
			.then(Mono.fromSupplier(() -> AttachToken.of(id, this.tokens.issue(id, caller.owner()))));
	}

	@Operation(summary = "List streams, newest first")
	@GetMapping(produces = MediaType.APPLICATION_JSON_VALUE)
	Mono<StreamPage> list(@RequestParam(name = "status", required = false) @Nullable String status,
			@RequestParam(name = "limit", required = false) @Nullable String limit,
			@RequestParam(name = "after", required = false) @Nullable String after,
			@AuthenticationPrincipal Caller caller) {
		StreamStatus filter = null;
		if (status != null) {
			filter = StreamStatus.fromWireName(status)
				.orElseThrow(() -> InvalidRequest.invalid("status",
						"must be one of queued, in_progress, completed, failed, cancelled"));
		}
		int size = DEFAULT_PAGE;
		if (limit != null) {
			size = (int) Math.min(parse("limit", limit), Integer.MAX_VALUE);
			if (size < 1 || size > MAX_PAGE) {
				throw InvalidRequest.invalid("limit", "must be between 1 and " + MAX_PAGE);
			}
		}
		return this.directory.list(filter, size, after, caller);
	}

	/** The listener's events as SSE frames, a batch per write, with keep-alive comments while it is quiet. */
	private EventStream sse(Flux<List<StreamEvent>> batches) {
		return EventStream.withHeartbeats(batches.map(batch -> Objects.requireNonNull(EventStream.join(batch, StreamEvent::frame))),
				this.heartbeat);
	}

	private static ResponseEntity.BodyBuilder eventStream() {
		return ResponseEntity.ok()
			.contentType(MediaType.TEXT_EVENT_STREAM)
			.header(HttpHeaders.CACHE_CONTROL, "no-cache")
			// Reverse proxies such as nginx must not buffer an event stream.
			.header("X-Accel-Buffering", "no");
	}

	private static boolean wantsEventStream(HttpHeaders headers) {
		List<MediaType> accepted = AcceptHeader.parse(headers);
		for (MediaType type : accepted) {
			if (type.getQualityValue() > 0 && MediaType.TEXT_EVENT_STREAM.equalsTypeAndSubtype(type)) {
				return true;
			}
		}
		return false;
	}

	private static long position(String name, String value) {
		long position = parse(name, value);
		if (position < 0) {
			throw InvalidRequest.invalid(name, "must not be negative");
		}
		return position;
	}

	private static long parse(String name, String value) {
		try {
			return Long.parseLong(value.trim());
		}
		catch (NumberFormatException ex) {
			throw InvalidRequest.invalid(name, "must be a whole number");
		}
	}

}
