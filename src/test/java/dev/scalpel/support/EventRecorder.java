package dev.scalpel.support;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

import org.jspecify.annotations.Nullable;
import org.reactivestreams.Subscription;
import reactor.core.publisher.BaseSubscriber;
import reactor.core.publisher.Flux;

import org.springframework.core.ParameterizedTypeReference;
import org.springframework.http.HttpHeaders;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.web.reactive.function.client.ClientResponse;

import dev.scalpel.support.Await;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * One SSE response read by a real client, recorded as it arrives: its status and headers, its events,
 * its comments and how it ended. {@link #disconnect()} cancels the subscription, which makes Reactor
 * Netty close the connection of an unfinished response.
 */
public final class EventRecorder {

	public static final ParameterizedTypeReference<ServerSentEvent<String>> SSE = new ParameterizedTypeReference<>() {
	};

	private final List<ServerSentEvent<String>> events = new CopyOnWriteArrayList<>();

	private final List<ServerSentEvent<String>> comments = new CopyOnWriteArrayList<>();

	private final Consumer<String> onStreamId;

	private final Reader reader;

	private volatile int status;

	private volatile @Nullable HttpHeaders headers;

	private volatile @Nullable String problem;

	private volatile boolean completed;

	private volatile @Nullable Throwable error;

	/**
	 * @param onStreamId told the {@code X-Stream-Id} header when the response arrives
	 * @param demand how many entries to read before {@link #readOn()}; {@code Long.MAX_VALUE} reads all
	 */
	public EventRecorder(Consumer<String> onStreamId, long demand) {
		this.onStreamId = onStreamId;
		this.reader = new Reader(demand);
	}

	/** Subscribes to the exchange; runs on the caller's thread, the events arrive on Netty's. */
	public EventRecorder record(Flux<ServerSentEvent<String>> events) {
		events.subscribe(this.reader);
		return this;
	}

	/** Lifts the demand limit: reads whatever the connection holds and what comes after. */
	public EventRecorder readOn() {
		this.reader.request(Long.MAX_VALUE);
		return this;
	}

	/** Reads an SSE body, or the problem detail of a refused request. */
	public Flux<ServerSentEvent<String>> read(ClientResponse response) {
		HttpHeaders headers = response.headers().asHttpHeaders();
		String id = headers.getFirst("X-Stream-Id");
		if (id != null) {
			this.onStreamId.accept(id);
		}
		this.status = response.statusCode().value();
		// Written last: status() waits for the headers and then reads the status.
		this.headers = headers;
		if (!response.statusCode().is2xxSuccessful()) {
			return response.bodyToMono(String.class).doOnNext(body -> this.problem = body).thenMany(Flux.empty());
		}
		return response.bodyToFlux(SSE);
	}

	private void add(ServerSentEvent<String> event) {
		// Told apart by content, not by the absence of an id, so that a comment with an id is caught.
		if (event.comment() != null && event.event() == null && event.data() == null) {
			this.comments.add(event);
		}
		else {
			this.events.add(event);
		}
	}

	/** The events so far (comments excluded). */
	public List<ServerSentEvent<String>> events() {
		return List.copyOf(this.events);
	}

	/** The comment-only entries so far, e.g. keep-alives. */
	public List<ServerSentEvent<String>> comments() {
		return List.copyOf(this.comments);
	}

	public List<String> types() {
		return this.events.stream().map(ServerSentEvent::event).toList();
	}

	public List<Long> ids() {
		return this.events.stream().map(event -> Long.parseLong(event.id())).toList();
	}

	public ServerSentEvent<String> last() {
		assertThat(this.events).isNotEmpty();
		return this.events.get(this.events.size() - 1);
	}

	/** The HTTP status, once the response has arrived. */
	public int status() {
		Await.atMost(StreamsClient.TIMEOUT).until(() -> this.headers != null);
		return this.status;
	}

	public HttpHeaders headers() {
		status();
		return this.headers;
	}

	public @Nullable String problem() {
		return this.problem;
	}

	/** The {@code X-Stream-Id} header, once the response has arrived. */
	public String streamId() {
		String id = headers().getFirst("X-Stream-Id");
		assertThat(id).as("X-Stream-Id").isNotNull();
		return id;
	}

	public EventRecorder awaitEventCount(int count) {
		Await.atMost(StreamsClient.TIMEOUT).until(() -> this.events.size() >= count || this.completed);
		assertThat(this.events).hasSizeGreaterThanOrEqualTo(count);
		return this;
	}

	public EventRecorder awaitEvent(String type) {
		Await.atMost(StreamsClient.TIMEOUT)
			.until(() -> this.events.stream().anyMatch(event -> type.equals(event.event())) || this.completed);
		assertThat(types()).contains(type);
		return this;
	}

	/** Waits for the response to end normally. */
	public EventRecorder awaitCompletion() {
		return awaitCompletion(StreamsClient.TIMEOUT);
	}

	public EventRecorder awaitCompletion(Duration timeout) {
		Await.atMost(timeout).until(() -> this.completed || this.error != null);
		assertThat(this.error).as("error of the SSE response").isNull();
		return this;
	}

	/** Cancels the subscription, so the client closes its connection; returns when, in nanoTime. */
	public long disconnect() {
		long disposedAt = System.nanoTime();
		this.reader.dispose();
		return disposedAt;
	}

	/** Reads with a demand limit: a client that stops reading stops reading from its socket too. */
	private final class Reader extends BaseSubscriber<ServerSentEvent<String>> {

		private final long demand;

		Reader(long demand) {
			this.demand = demand;
		}

		@Override
		protected void hookOnSubscribe(Subscription subscription) {
			subscription.request(this.demand);
		}

		@Override
		protected void hookOnNext(ServerSentEvent<String> event) {
			add(event);
		}

		@Override
		protected void hookOnError(Throwable failure) {
			EventRecorder.this.error = failure;
		}

		@Override
		protected void hookOnComplete() {
			EventRecorder.this.completed = true;
		}

	}

}
