package dev.scalpel.bench;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongFunction;

import io.netty.handler.codec.http.HttpHeaderNames;
import org.jspecify.annotations.Nullable;
import org.HdrHistogram.ConcurrentHistogram;
import org.HdrHistogram.Histogram;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;
import reactor.netty.ByteBufMono;
import reactor.netty.http.client.HttpClient;
import reactor.netty.resources.ConnectionProvider;
import reactor.netty.resources.LoopResources;

/**
 * A non-blocking load generator: opens streams over Reactor Netty (two event loops, so the client is
 * not the bottleneck), against Scalpel's native API ({@code POST /v1/streams}, SSE) or any
 * OpenAI-compatible URL ({@code POST /chat/completions} with {@code stream: true}), and ends each one
 * by reading it to the end, by cancelling it ({@code POST /v1/streams/{id}/cancel}, native only) or by
 * disconnecting, at a random instant. It records time to first token, the gaps between tokens and the
 * round trip of each cancel in HdrHistograms (microseconds), and when each disconnect happened (to be
 * matched with the upstream's record of the connection closing).
 */
final class LoadGenerator implements AutoCloseable {

	/** The API spoken. */
	enum Api {

		NATIVE, OPENAI

	}

	/** How a stream is ended. */
	enum Ending {

		COMPLETE, CANCEL, DISCONNECT

	}

	/** One stream to run: its tag (sent as the prompt), its ending, and when to end it early. */
	record Plan(String tag, Ending ending, Duration endAfter) {
	}

	/** What one stream saw. */
	record Outcome(String tag, Ending ending, int status, int tokens, String terminal, long disconnectedNanos) {
	}

	private final Api api;

	private final String model;

	private final LoopResources loops;

	private final ConnectionProvider connections;

	private final HttpClient http;

	final Histogram firstToken = new ConcurrentHistogram(3);

	final Histogram gaps = new ConcurrentHistogram(3);

	final Histogram headers = new ConcurrentHistogram(3);

	final Histogram cancels = new ConcurrentHistogram(3);

	/** The first cancels that took over a second: stream id, when sent, round trip. */
	final Queue<String> slowCancels = new ConcurrentLinkedQueue<>();

	final Histogram refusals = new ConcurrentHistogram(3);

	/** {@link #refusals} from when the request had been written, without the client's own queueing before it. */
	final Histogram refusalsFromWritten = new ConcurrentHistogram(3);

	final AtomicLong tokens = new AtomicLong();

	private volatile long recordFrom = Long.MIN_VALUE;

	LoadGenerator(String baseUrl, Api api, String model) {
		this(baseUrl, api, model, null);
	}

	/** With {@code key}: every request sends {@code Authorization: Bearer <key>} (a service with API keys). */
	LoadGenerator(String baseUrl, Api api, String model, @Nullable String key) {
		this.api = api;
		this.model = model;
		this.loops = LoopResources.create("loadgen", 2, true);
		this.connections = ConnectionProvider.builder("loadgen")
			.maxConnections(50_000)
			.pendingAcquireMaxCount(-1)
			.maxIdleTime(Duration.ofSeconds(10))
			.build();
		HttpClient http = HttpClient.create(this.connections).runOn(this.loops).baseUrl(baseUrl);
		this.http = (key != null) ? http.headers(headers -> headers.set(HttpHeaderNames.AUTHORIZATION, "Bearer " + key))
				: http;
	}

	/** Forgets the figures recorded so far (after a warm-up). */
	void resetFigures() {
		this.firstToken.reset();
		this.gaps.reset();
		this.headers.reset();
		this.cancels.reset();
		this.slowCancels.clear();
		this.refusals.reset();
		this.refusalsFromWritten.reset();
		this.tokens.set(0);
	}

	/**
	 * Keeps {@code concurrency} streams running, starting the next as soon as one ends, until
	 * {@code total} streams ran or {@code duration} passed, whichever comes first.
	 */
	List<Outcome> closedLoop(int concurrency, long total, Duration duration, LongFunction<Plan> plans) {
		return closedLoop(concurrency, total, duration, Duration.ZERO, plans);
	}

	/**
	 * Like {@link #closedLoop(int, long, Duration, LongFunction)}, with the first {@code concurrency}
	 * streams started evenly over {@code ramp}. A ramp of one stream's lifetime makes the arrival rate
	 * the steady one from the start, instead of a storm of {@code concurrency} simultaneous opens that
	 * would then dominate the figures of a scenario meant to be steady.
	 */
	List<Outcome> closedLoop(int concurrency, long total, Duration duration, Duration ramp, LongFunction<Plan> plans) {
		return closedLoop(concurrency, total, duration, ramp, plans, false);
	}

	/**
	 * Like {@link #closedLoop(int, long, Duration, Duration, LongFunction)}; with {@code cut}, the
	 * streams still running at the end of {@code duration} are not waited for but left (their
	 * connections closed, as a client that goes away): for warm-ups, whose last streams would otherwise
	 * add a stream's lifetime of thinning load to the run.
	 */
	List<Outcome> closedLoop(int concurrency, long total, Duration duration, Duration ramp, LongFunction<Plan> plans,
			boolean cut) {
		long deadline = System.nanoTime() + duration.toNanos();
		Flux<Outcome> outcomes = Flux.<Long, Long>generate(() -> 0L, (n, sink) -> {
			if (n >= total || System.nanoTime() >= deadline) {
				sink.complete();
			}
			else {
				sink.next(n);
			}
			return n + 1;
		}).flatMap(n -> {
			Plan plan = plans.apply(n);
			if (n >= concurrency || ramp.isZero()) {
				return stream(plan);
			}
			return Mono.delay(ramp.multipliedBy(n).dividedBy(concurrency), Schedulers.parallel()).then(stream(plan));
		}, concurrency, 1);
		return (cut ? outcomes.take(duration) : outcomes).collectList().block(duration.plusMinutes(5));
	}

	/**
	 * Figures (first token, gaps, headers, tokens) are recorded only for streams started at or after
	 * this {@link System#nanoTime()}: the ramp and warm-up of a run are left out of them.
	 */
	void recordFrom(long nanos) {
		this.recordFrom = nanos;
	}

	/** Runs one stream. */
	Mono<Outcome> stream(Plan plan) {
		return Mono.defer(() -> {
			Run run = new Run(plan);
			Flux<String> body = this.http.headers(headers -> headers.set(HttpHeaderNames.CONTENT_TYPE, "application/json")
				.set(HttpHeaderNames.ACCEPT, "text/event-stream"))
				.post()
				.uri((this.api == Api.NATIVE) ? "/v1/streams" : "/chat/completions")
				.send(ByteBufMono.fromString(Mono.just(requestBody(plan.tag()))))
				.response((response, content) -> {
					run.status = response.status().code();
					if (run.recorded) {
						this.headers.recordValue(micros(System.nanoTime() - run.startedNanos));
					}
					run.streamId = response.responseHeaders().get("X-Stream-Id");
					return content.asString(StandardCharsets.UTF_8);
				});
			if (plan.ending() == Ending.DISCONNECT) {
				// Cancelling the response body makes Reactor Netty close the connection: a disconnect.
				body = body.doOnCancel(() -> run.disconnectedNanos = System.nanoTime())
					.takeUntilOther(Mono.delay(plan.endAfter(), Schedulers.parallel()));
			}
			else if (plan.ending() == Ending.CANCEL) {
				Mono<Void> cancel = Mono.delay(plan.endAfter(), Schedulers.parallel()).then(Mono.defer(() -> cancel(run)));
				body = body.mergeWith(cancel.then(Mono.empty()));
			}
			return body.doOnNext(run::chunk)
				.then(Mono.fromSupplier(run::outcome))
				.onErrorResume(failure -> Mono.just(run.failed(failure)));
		});
	}

	/** Starts a background stream ({@code 202}) and returns its status and id; records refusal latency. */
	Mono<String[]> startBackground(String tag) {
		return Mono.defer(() -> {
			long sent = System.nanoTime();
			long[] written = { 0 };
			return this.http.headers(headers -> headers.set(HttpHeaderNames.CONTENT_TYPE, "application/json"))
				.doAfterRequest((request, connection) -> written[0] = System.nanoTime())
				.post()
				.uri("/v1/streams")
				.send(ByteBufMono.fromString(Mono.just("{\"model\":\"" + this.model + "\",\"prompt\":\"" + tag
						+ "\",\"background\":true}")))
				.responseSingle((response, content) -> {
					int status = response.status().code();
					if (status == 429) {
						long now = System.nanoTime();
						this.refusals.recordValue(micros(now - sent));
						if (written[0] != 0) {
							this.refusalsFromWritten.recordValue(micros(now - written[0]));
						}
					}
					String id = response.responseHeaders().get("X-Stream-Id");
					return content.asString()
						.defaultIfEmpty("")
						.map(body -> new String[] { String.valueOf(status), id, body });
				});
		});
	}

	/** Cancels a stream by id, recording the round trip. */
	Mono<Void> cancel(String id) {
		return Mono.defer(() -> {
			long sent = System.nanoTime();
			Instant sentAt = Instant.now();
			return this.http.post()
				.uri("/v1/streams/" + id + "/cancel")
				.responseSingle((response, content) -> content.asString().defaultIfEmpty("").doOnNext(ignored -> {
					if (response.status().code() == 200) {
						long took = System.nanoTime() - sent;
						this.cancels.recordValue(micros(took));
						if (took > 1_000_000_000L && this.slowCancels.size() < 20) {
							this.slowCancels.add(id + " sent " + sentAt + " took " + took / 1_000_000 + " ms");
						}
					}
				}))
				.then();
		});
	}

	private Mono<Void> cancel(Run run) {
		return (run.streamId == null || run.terminal != null) ? Mono.empty() : cancel(run.streamId);
	}

	private String requestBody(String tag) {
		String messages = "[{\"role\":\"user\",\"content\":\"" + tag + "\"}]";
		return (this.api == Api.NATIVE) ? "{\"model\":\"" + this.model + "\",\"messages\":" + messages + "}"
				: "{\"model\":\"" + this.model + "\",\"stream\":true,\"messages\":" + messages + "}";
	}

	static long micros(long nanos) {
		return Math.max(0, nanos / 1000);
	}

	/** A random instant in {@code [0, max)}. */
	static Duration randomBefore(Duration max) {
		return Duration.ofNanos(ThreadLocalRandom.current().nextLong(Math.max(1, max.toNanos())));
	}

	@Override
	public void close() {
		this.connections.disposeLater().block(Duration.ofSeconds(10));
		// No quiet period (Reactor Netty's default waits 2 s for more tasks): nothing is left to run.
		this.loops.disposeLater(Duration.ZERO, Duration.ofSeconds(5)).block(Duration.ofSeconds(10));
	}

	/** The state of one stream; its chunks arrive in order on one event loop. */
	private final class Run {

		private final Plan plan;

		private final long startedNanos = System.nanoTime();

		private final boolean recorded = LoadGenerator.this.recordFrom == Long.MIN_VALUE
				|| this.startedNanos - LoadGenerator.this.recordFrom >= 0;

		private final StringBuilder pending = new StringBuilder();

		volatile int status;

		volatile String streamId;

		volatile String terminal;

		volatile long disconnectedNanos;

		private long lastTokenNanos;

		private int count;

		Run(Plan plan) {
			this.plan = plan;
		}

		void chunk(String text) {
			long now = System.nanoTime();
			this.pending.append(text);
			int end;
			while ((end = this.pending.indexOf("\n\n")) >= 0) {
				String frame = this.pending.substring(0, end);
				this.pending.delete(0, end + 2);
				frame(frame, now);
			}
		}

		private void frame(String frame, long now) {
			boolean token;
			if (LoadGenerator.this.api == Api.NATIVE) {
				String type = field(frame, "event");
				token = "token".equals(type);
				if ("stream.completed".equals(type) || "stream.failed".equals(type)
						|| "stream.cancelled".equals(type)) {
					this.terminal = type.substring(7);
				}
			}
			else {
				token = frame.contains("\"content\":\"") && !frame.contains("\"content\":\"\"");
				if (frame.startsWith("data: [DONE]")) {
					this.terminal = "completed";
				}
			}
			if (token) {
				this.count++;
				if (!this.recorded) {
					this.lastTokenNanos = now;
					return;
				}
				LoadGenerator.this.tokens.incrementAndGet();
				if (this.lastTokenNanos == 0) {
					LoadGenerator.this.firstToken.recordValue(micros(now - this.startedNanos));
				}
				else {
					LoadGenerator.this.gaps.recordValue(micros(now - this.lastTokenNanos));
				}
				this.lastTokenNanos = now;
			}
		}

		/** The value of an SSE field of a frame ({@code name:value} or {@code name: value}), or null. */
		private static String field(String frame, String name) {
			int at = frame.startsWith(name + ":") ? 0 : frame.indexOf("\n" + name + ":");
			if (at < 0) {
				return null;
			}
			int start = frame.indexOf(':', at) + 1;
			if (start < frame.length() && frame.charAt(start) == ' ') {
				start++;
			}
			int stop = frame.indexOf('\n', start);
			return frame.substring(start, (stop < 0) ? frame.length() : stop);
		}

		Outcome outcome() {
			return new Outcome(this.plan.tag(), this.plan.ending(), this.status, this.count,
					(this.terminal != null) ? this.terminal
							: (this.plan.ending() == Ending.DISCONNECT) ? "disconnected" : "none",
					this.disconnectedNanos);
		}

		Outcome failed(Throwable failure) {
			return new Outcome(this.plan.tag(), this.plan.ending(), this.status, this.count,
					"error: " + failure.getClass().getSimpleName(), this.disconnectedNanos);
		}

	}

}
