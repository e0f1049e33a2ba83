package dev.scalpel.support;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import java.util.function.Supplier;

import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.http.HttpHeaders;
import org.springframework.http.MediaType;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.web.reactive.function.client.WebClient;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A client of the streams API over real sockets (WebClient on Reactor Netty), for end-to-end tests.
 * Blocking calls are bounded by {@link #TIMEOUT} and meant for the JUnit thread. It remembers the
 * streams it started so that a test can cancel whatever it left running.
 */
public final class StreamsClient {

	public static final Duration TIMEOUT = Duration.ofSeconds(5);

	private final WebClient http;

	private final JsonMapper json = JsonMapper.builder().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS).build();

	private final Set<String> started = ConcurrentHashMap.newKeySet();

	public StreamsClient(int port) {
		this.http = WebClient.create("http://localhost:" + port);
	}

	/** A client that sends {@code Authorization: Bearer <key>} with every request. */
	public StreamsClient(int port, String key) {
		this.http = WebClient.builder()
			.baseUrl("http://localhost:" + port)
			.defaultHeader(HttpHeaders.AUTHORIZATION, "Bearer " + key)
			.build();
	}

	/** An HTTP answer: status, headers and the body as text. */
	public record Reply(int status, HttpHeaders headers, String body) {
	}

	// --- starting

	/** {@code POST /v1/streams} with {@code Accept: text/event-stream}: the response is the stream. */
	public EventRecorder open(String body) {
		return open(body, Long.MAX_VALUE);
	}

	/** Like {@link #open(String)}, but reads only {@code demand} entries until {@link EventRecorder#readOn()}. */
	public EventRecorder open(String body, long demand) {
		EventRecorder recorder = new EventRecorder(this.started::add, demand);
		return recorder.record(this.http.post()
			.uri("/v1/streams")
			.accept(MediaType.TEXT_EVENT_STREAM)
			.contentType(MediaType.APPLICATION_JSON)
			.bodyValue(body)
			.exchangeToFlux(recorder::read));
	}

	/** {@code POST /v1/streams} with {@code Accept: application/json}. */
	public Reply start(String body) {
		Reply reply = exchange(this.http.post()
			.uri("/v1/streams")
			.accept(MediaType.APPLICATION_JSON)
			.contentType(MediaType.APPLICATION_JSON)
			.bodyValue(body));
		String id = reply.headers().getFirst("X-Stream-Id");
		if (id != null) {
			this.started.add(id);
		}
		return reply;
	}

	/** Starts a stream in the {@code 202} mode and returns its id. */
	public String startAccepted(String body) {
		Reply reply = start(body);
		assertThat(reply.status()).as(reply.body()).isEqualTo(202);
		return json(reply).get("id").asString();
	}

	// --- listening

	/** {@code GET /v1/streams/{id}/events}: attaches from the start. */
	public EventRecorder attach(String id) {
		return attach("/v1/streams/" + id + "/events", headers -> {
		});
	}

	/** Resumes with the {@code Last-Event-ID} header. */
	public EventRecorder resumeWithLastEventId(String id, long lastEventId) {
		return attach("/v1/streams/" + id + "/events",
				headers -> headers.set("Last-Event-ID", Long.toString(lastEventId)));
	}

	/** Resumes with the {@code after} query parameter. */
	public EventRecorder resumeAfter(String id, long after) {
		return attach("/v1/streams/" + id + "/events?after=" + after, headers -> {
		});
	}

	public EventRecorder attach(String uri, Consumer<HttpHeaders> headers) {
		EventRecorder recorder = new EventRecorder(id -> {
		}, Long.MAX_VALUE);
		return recorder.record(this.http.get()
			.uri(uri)
			.accept(MediaType.TEXT_EVENT_STREAM)
			.headers(headers)
			.exchangeToFlux(recorder::read));
	}

	/** Every event of a stream from the start, read to the end of the response. */
	public List<ServerSentEvent<String>> replay(String id) {
		return attach(id).awaitCompletion().events();
	}

	/** {@code GET /v1/streams/{id}/events} read to its end, the SSE text as the body. */
	public Reply getEvents(String id) {
		return exchange(this.http.get().uri("/v1/streams/{id}/events", id).accept(MediaType.TEXT_EVENT_STREAM));
	}

	/** The raw text of an events response, chunk by chunk as it arrives. */
	public Flux<String> rawEvents(String id) {
		return this.http.get()
			.uri("/v1/streams/{id}/events", id)
			.accept(MediaType.TEXT_EVENT_STREAM)
			.retrieve()
			.bodyToFlux(DataBuffer.class)
			.map(buffer -> {
				String text = buffer.toString(StandardCharsets.UTF_8);
				DataBufferUtils.release(buffer);
				return text;
			});
	}

	// --- status, cancel, list

	public Reply get(String uri) {
		return exchange(this.http.get().uri(uri).accept(MediaType.APPLICATION_JSON));
	}

	public Reply cancelReply(String id) {
		return exchange(this.http.post().uri("/v1/streams/{id}/cancel", id).accept(MediaType.APPLICATION_JSON));
	}

	/** The status object of a stream, which must be found. */
	public JsonNode status(String id) {
		return ok(get("/v1/streams/" + id));
	}

	/** Cancels a stream, which must be found, and returns the status object of the answer. */
	public JsonNode cancel(String id) {
		return ok(cancelReply(id));
	}

	/** What a cancel answered, and what {@code atArrival} saw the moment its response arrived. */
	public record Observed<T>(Reply reply, T atArrival) {
	}

	/**
	 * Cancels a stream and samples {@code atArrival} as soon as the response status and headers arrive,
	 * on the client's I/O thread, before the body is read.
	 */
	public <T> Observed<T> cancelObserving(String id, Supplier<T> atArrival) {
		return this.http.post()
			.uri("/v1/streams/{id}/cancel", id)
			.accept(MediaType.APPLICATION_JSON)
			.exchangeToMono(response -> {
				T seen = atArrival.get();
				return response.bodyToMono(String.class)
					.map(body -> new Observed<>(
							new Reply(response.statusCode().value(), response.headers().asHttpHeaders(), body), seen));
			})
			.switchIfEmpty(Mono.error(new AssertionError("no response")))
			.block(TIMEOUT);
	}

	/** Cancels every stream this client started; those already gone are skipped. */
	public void cancelAll() {
		for (String id : this.started) {
			int status = cancelReply(id).status();
			assertThat(status).as("cancel " + id).isIn(200, 404);
		}
		this.started.clear();
	}

	// --- JSON

	public JsonNode json(String text) {
		return this.json.readTree(text);
	}

	public JsonNode json(Reply reply) {
		return json(reply.body());
	}

	public JsonNode data(ServerSentEvent<String> event) {
		return json(event.data());
	}

	private JsonNode ok(Reply reply) {
		assertThat(reply.status()).as(reply.body()).isEqualTo(200);
		return json(reply);
	}

	private Reply exchange(WebClient.RequestHeadersSpec<?> request) {
		return request
			.exchangeToMono(response -> response.bodyToMono(String.class)
				.defaultIfEmpty("")
				.map(body -> new Reply(response.statusCode().value(), response.headers().asHttpHeaders(), body)))
			.switchIfEmpty(Mono.error(new AssertionError("no response")))
			.block(TIMEOUT);
	}

}
