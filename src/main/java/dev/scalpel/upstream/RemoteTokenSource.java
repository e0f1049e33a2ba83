package dev.scalpel.upstream;

import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.nio.channels.NotYetConnectedException;
import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;

import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.reactor.circuitbreaker.operator.CircuitBreakerOperator;
import io.netty.channel.ConnectTimeoutException;
import org.jspecify.annotations.Nullable;
import reactor.core.Exceptions;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Scheduler;
import reactor.netty.http.client.PrematureCloseException;
import reactor.util.retry.Retry;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferLimitException;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.http.HttpHeaders;
import org.springframework.http.MediaType;
import org.springframework.web.reactive.function.client.ClientResponse;
import org.springframework.web.reactive.function.client.WebClient;
import org.springframework.web.reactive.function.client.WebClientRequestException;

/**
 * A real provider endpoint, called with Spring's {@link WebClient} over Reactor Netty and read with
 * {@link EventStreamDecoder} from the response's buffers: no thread is held per stream. Cancelling a generation cancels the response
 * body, which makes Reactor Netty close the connection rather than return it to the pool (a
 * connection with an unread response cannot be reused), so the provider stops generating; the
 * connection-close tests hold this to within 100 ms. A call that runs to its end reads its response
 * to the last byte before it reports the finish, so that its connection is pooled for the next call.
 *
 * <p>A {@code 429} or {@code 503}, or a connection that failed before the provider answered (refused,
 * or closed before the status line), is retried with exponential backoff and jitter, or after the
 * provider's {@code Retry-After}; nothing is retried once a chunk has arrived.
 * The endpoint's circuit breaker sees one outcome per generation, its time limits included, and
 * never counts a cancellation as a failure.
 */
public final class RemoteTokenSource implements TokenSource {

	/** How long the end of a response may lag behind the provider's last event before the connection is closed. */
	private static final Duration FINISH_LINGER = Duration.ofMillis(50);

	private final ProviderProperties.Endpoint endpoint;

	private final Protocol protocol;

	private final WebClient client;

	private final URI uri;

	private final JsonMapper json;

	private final UpstreamProperties.Retry retry;

	private final CircuitBreaker breaker;

	private final Duration openWait;

	private final Scheduler timers;

	private final int maxEventSize;

	RemoteTokenSource(ProviderProperties.Endpoint endpoint, WebClient client, JsonMapper json,
			UpstreamProperties properties, CircuitBreaker breaker, Scheduler timers) {
		this.endpoint = endpoint;
		this.protocol = switch (endpoint.type()) {
			case OPENAI -> new OpenAiProtocol(json);
			case ANTHROPIC -> new AnthropicProtocol(json);
		};
		this.client = client;
		String base = endpoint.baseUrl().toString();
		this.uri = URI.create((base.endsWith("/") ? base.substring(0, base.length() - 1) : base) + this.protocol.path());
		this.json = json;
		this.retry = properties.retry();
		this.breaker = breaker;
		this.openWait = properties.circuitBreaker().waitDurationInOpenState();
		this.timers = timers;
		this.maxEventSize = (int) Math.min(Integer.MAX_VALUE, properties.maxLineSize().toBytes());
	}

	@Override
	public String name() {
		return this.endpoint.name();
	}

	/** The configured models, in configured order. */
	@Override
	public Set<String> models() {
		return Collections.unmodifiableSet(new LinkedHashSet<>(this.endpoint.models()));
	}

	@Override
	public boolean routesAnyModel() {
		return true;
	}

	@Override
	public boolean takesTools() {
		return this.protocol instanceof OpenAiProtocol;
	}

	/** The endpoint's circuit breaker. */
	public CircuitBreaker circuitBreaker() {
		return this.breaker;
	}

	@Override
	public void admit() {
		// Asking for a permission moves an open breaker to half-open once its wait is over; the start
		// takes no permission of its own, its call asks again when it gets a slot.
		if (!this.breaker.tryAcquirePermission()) {
			throw new UpstreamUnavailable(this.endpoint.name(), this.openWait);
		}
		this.breaker.releasePermission();
	}

	@Override
	public Flux<Chunk> guard(Flux<Chunk> call) {
		return call.transformDeferred(CircuitBreakerOperator.of(this.breaker));
	}

	@Override
	public Flux<Chunk> generate(GenerationRequest request) {
		return Flux.defer(() -> {
			AtomicBoolean chunkArrived = new AtomicBoolean();
			byte[] body = this.json.writeValueAsBytes(this.protocol.body(request, this.endpoint));
			return Flux.defer(() -> attempt(body))
				.doOnNext(chunk -> chunkArrived.set(true))
				.retryWhen(retries(chunkArrived));
		});
	}

	private Flux<Chunk> attempt(byte[] body) {
		Protocol.Reader reader = this.protocol.reader(this.endpoint.name());
		EventStreamDecoder events = new EventStreamDecoder(this.maxEventSize);
		CallChannel channel = new CallChannel();
		Finish finish = new Finish();
		return this.client.post()
			.uri(this.uri)
			.headers(headers -> {
				this.endpoint.headers().forEach(headers::set);
				this.protocol.headers(headers, this.endpoint);
			})
			.contentType(MediaType.APPLICATION_JSON)
			.accept(MediaType.TEXT_EVENT_STREAM)
			.bodyValue(body)
			.retrieve()
			.onStatus(status -> !status.is2xxSuccessful(), this::refused)
			.bodyToFlux(DataBuffer.class)
			.concatMapIterable(events::decode)
			.concatWith(Flux.defer(() -> Flux.fromIterable(events.finish())))
			.<Chunk>handle((event, sink) -> {
				Chunk chunk = reader.read(event);
				if (chunk instanceof Chunk.Finished finished) {
					finish.finished = finished;
					finish.signal.tryEmitEmpty();
				}
				else if (chunk != null) {
					sink.next(chunk);
				}
			})
			// The provider said it finished: read the rest of the response (its last bytes follow at once)
			// so that the connection goes back to the pool, but wait no longer than FINISH_LINGER for it.
			.doOnComplete(channel::complete)
			.takeUntilOther(finish.signal.asMono().then(Mono.delay(FINISH_LINGER, this.timers)))
			.concatWith(Mono.fromSupplier(() -> (finish.finished != null) ? finish.finished : reader.end()))
			.onErrorMap(this::classify)
			.doOnCancel(channel::cancel)
			.contextWrite(channel.context());
	}

	/** The finish of one call, held until its response has been read to the end. */
	private static final class Finish {

		final Sinks.Empty<Void> signal = Sinks.empty();

		volatile Chunk.@Nullable Finished finished;

	}

	/** A provider's error answer, with its error type and message from the body. */
	private Mono<? extends Throwable> refused(ClientResponse response) {
		int status = response.statusCode().value();
		Duration retryAfter = retryAfter(response.headers().asHttpHeaders());
		return response.bodyToMono(String.class)
			.onErrorResume(unreadable -> Mono.empty())
			.defaultIfEmpty("")
			.map(body -> {
				Protocol.ProviderError error = this.protocol.error(Json.tree(this.json, body));
				String reason = response.statusCode().toString();
				String message = this.endpoint.name() + " answered " + reason
						+ ((error != null && error.message() != null) ? ": " + error.message() : "");
				return new UpstreamFailure(this.endpoint.name(), UpstreamFailure.Kind.STATUS, status,
						(error != null) ? error.type() : null, message, retryAfter, null);
			});
	}

	private Throwable classify(Throwable failure) {
		Throwable cause = Exceptions.unwrap(failure);
		UpstreamFailure classified;
		if (cause instanceof UpstreamFailure upstream) {
			classified = upstream;
		}
		else if (causedBy(cause, DataBufferLimitException.class)) {
			classified = failure(UpstreamFailure.Kind.MALFORMED,
					"the provider sent a line longer than the limit of scalpel.upstream.max-line-size", cause);
		}
		else {
			classified = connection(cause);
		}
		return classified.sanitised(this.endpoint.apiKey());
	}

	private static boolean causedBy(Throwable failure, Class<? extends Throwable> type) {
		for (Throwable cause = failure; cause != null; cause = cause.getCause()) {
			if (type.isInstance(cause)) {
				return true;
			}
		}
		return false;
	}

	private UpstreamFailure connection(Throwable failure) {
		// WebClient wraps what went wrong on the connection (in a request or a response exception):
		// classify by the first cause that says what it was. A request exception (what failed before a
		// response) or a failed connect means the provider answered nothing.
		if (causedBy(failure, WebClientRequestException.class) || causedBy(failure, ConnectException.class)
				|| causedBy(failure, ConnectTimeoutException.class)) {
			return unanswered(failure);
		}
		for (Throwable cause = failure; cause != null; cause = cause.getCause()) {
			if (cause instanceof PrematureCloseException) {
				return failure(UpstreamFailure.Kind.CONNECTION, "the provider closed the connection mid-stream",
						failure);
			}
			if (cause instanceof IOException && cause.getMessage() != null
					&& cause.getMessage().contains("Connection reset")) {
				return failure(UpstreamFailure.Kind.CONNECTION, "the provider reset the connection", failure);
			}
			if (cause instanceof IOException) {
				return failure(UpstreamFailure.Kind.CONNECTION,
						"the connection to the provider failed: " + cause.getClass().getSimpleName()
								+ ((cause.getMessage() != null) ? " (" + cause.getMessage() + ")" : ""),
						failure);
			}
		}
		return failure(UpstreamFailure.Kind.CONNECTION,
				"the call to the provider failed: " + failure.getClass().getSimpleName(), failure);
	}

	/** A connection that failed before the response's status line. */
	private UpstreamFailure unanswered(Throwable failure) {
		String endpoint = this.endpoint.name();
		for (Throwable cause = failure; cause != null; cause = cause.getCause()) {
			if (cause instanceof ConnectTimeoutException) {
				return failure(UpstreamFailure.Kind.CONNECT_TIMEOUT,
						"could not connect to " + endpoint + " within scalpel.upstream.connect-timeout", failure);
			}
			// A failed non-blocking connect can surface as the read that follows it (ENOTCONN).
			if (cause instanceof ConnectException || cause instanceof NotYetConnectedException) {
				return UpstreamFailure.unanswered(endpoint, "could not connect to " + endpoint, failure);
			}
		}
		for (Throwable cause = failure; cause != null; cause = cause.getCause()) {
			if (cause instanceof PrematureCloseException || cause instanceof IOException) {
				return UpstreamFailure.unanswered(endpoint, "the provider closed the connection before answering",
						failure);
			}
		}
		return UpstreamFailure.unanswered(endpoint,
				"the call to the provider failed before it answered: " + failure.getClass().getSimpleName(), failure);
	}

	private UpstreamFailure failure(UpstreamFailure.Kind kind, String message, Throwable cause) {
		return new UpstreamFailure(this.endpoint.name(), kind, null, null, message, null, cause);
	}

	/** Retries a retryable refusal while no chunk of this generation has arrived. */
	private Retry retries(AtomicBoolean chunkArrived) {
		return Retry.from(signals -> signals.concatMap(signal -> {
			Throwable failure = signal.failure();
			long attempts = signal.totalRetries() + 1;
			if (chunkArrived.get() || !(failure instanceof UpstreamFailure upstream) || !upstream.retryable()
					|| attempts >= this.retry.maxAttempts()) {
				return Mono.error(failure);
			}
			Duration wait = backoff(attempts, upstream.retryAfter());
			if (wait == null) {
				return Mono.error(failure);
			}
			return Mono.delay(wait, this.timers);
		}));
	}

	/**
	 * The wait before the next attempt, after {@code attempts} failed ones; null when the provider
	 * asked for a longer wait than the longest backoff, which is not worth holding a slot for.
	 */
	@Nullable Duration backoff(long attempts, @Nullable Duration retryAfter) {
		Duration max = this.retry.maxBackoff();
		if (retryAfter != null) {
			return (retryAfter.compareTo(max) <= 0) ? retryAfter : null;
		}
		double base = this.retry.initialBackoff().toNanos() * Math.pow(2, attempts - 1);
		double spread = 1 + this.retry.jitter() * (2 * ThreadLocalRandom.current().nextDouble() - 1);
		return Duration.ofNanos((long) Math.min(max.toNanos(), base * spread));
	}

	private static @Nullable Duration retryAfter(HttpHeaders headers) {
		String value = headers.getFirst(HttpHeaders.RETRY_AFTER);
		if (value == null) {
			return null;
		}
		try {
			double seconds = Double.parseDouble(value.strip());
			return (seconds >= 0 && seconds < 86_400) ? Duration.ofMillis((long) (seconds * 1000)) : null;
		}
		catch (NumberFormatException notSeconds) {
			// An HTTP date: too rare from model providers to be worth parsing; back off instead.
			return null;
		}
	}

	@Override
	public String toString() {
		return "RemoteTokenSource[" + this.endpoint + "]";
	}

}
