package dev.scalpel.support;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;

import org.jspecify.annotations.Nullable;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;

import org.springframework.core.ParameterizedTypeReference;
import org.springframework.http.MediaType;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.web.reactive.function.client.WebClient;

import dev.scalpel.support.Await;

/**
 * A client of the API port that listens to one stream's Server-Sent Events over a real socket:
 * it records what arrives (on Reactor threads, without blocking) and can hang up like a browser tab
 * being closed. The test thread reads and waits on what was recorded.
 */
public final class SseListener {

	private static final ParameterizedTypeReference<ServerSentEvent<String>> SSE = new ParameterizedTypeReference<>() {
	};

	private final List<ServerSentEvent<String>> events = new CopyOnWriteArrayList<>();

	private final AtomicReference<String> streamId = new AtomicReference<>();

	private final AtomicReference<Throwable> failure = new AtomicReference<>();

	private volatile boolean completed;

	private volatile @Nullable Disposable subscription;

	private SseListener() {
	}

	/** Starts a stream with {@code Accept: text/event-stream} and listens to it. */
	public static SseListener start(WebClient api, String body) {
		SseListener listener = new SseListener();
		listener.listen(api.post()
			.uri("/v1/streams")
			.contentType(MediaType.APPLICATION_JSON)
			.accept(MediaType.TEXT_EVENT_STREAM)
			.bodyValue(body)
			.exchangeToFlux(response -> {
				if (response.statusCode().value() != 200) {
					// A refused start or attach: the problem detail becomes the failure.
					return response.<ServerSentEvent<String>>createError().flux();
				}
				String id = response.headers().asHttpHeaders().getFirst("X-Stream-Id");
				if (id != null) {
					listener.streamId.set(id);
				}
				return response.bodyToFlux(SSE);
			}));
		return listener;
	}

	/** Attaches to an existing stream ({@code GET /v1/streams/{id}/events}). */
	public static SseListener attach(WebClient api, String id) {
		SseListener listener = new SseListener();
		listener.streamId.set(id);
		listener.listen(api.get()
			.uri("/v1/streams/{id}/events", id)
			.accept(MediaType.TEXT_EVENT_STREAM)
			.exchangeToFlux(response -> {
				if (response.statusCode().value() != 200) {
					// A refused start or attach: the problem detail becomes the failure.
					return response.<ServerSentEvent<String>>createError().flux();
				}
				return response.bodyToFlux(SSE);
			}));
		return listener;
	}

	private void listen(Flux<ServerSentEvent<String>> events) {
		this.subscription = events.subscribe(this.events::add, this.failure::set, () -> this.completed = true);
	}

	/** The stream id from {@code X-Stream-Id}, waiting for the response head. */
	public String awaitId(Duration atMost) {
		Await.atMost(atMost).until(() -> this.streamId.get() != null || this.failure.get() != null);
		if (this.streamId.get() == null) {
			throw new AssertionError("no event stream: " + this.failure.get(), this.failure.get());
		}
		return this.streamId.get();
	}

	/** Waits until an event of this type arrived. */
	public void awaitEvent(String type, Duration atMost) {
		Await.atMost(atMost).until(() -> types().contains(type));
	}

	/** Waits until the server ended the event stream. */
	public void awaitCompletion(Duration atMost) {
		Await.atMost(atMost).until(() -> this.completed || this.failure.get() != null);
		if (this.failure.get() != null) {
			throw new AssertionError("the event stream failed", this.failure.get());
		}
	}

	/** The types of the events received so far, comments left out. */
	public List<String> types() {
		return this.events.stream().map(ServerSentEvent::event).filter(type -> type != null).toList();
	}

	/** The data of the last event received, comments left out. */
	public @Nullable String lastData() {
		List<ServerSentEvent<String>> real = this.events.stream().filter(event -> event.event() != null).toList();
		return real.isEmpty() ? null : real.get(real.size() - 1).data();
	}

	/** Hangs up: the client closes its connection without reading on. */
	public void disconnect() {
		Disposable listening = this.subscription;
		if (listening != null) {
			listening.dispose();
		}
	}

}
