package dev.scalpel.stream;

import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import org.jspecify.annotations.Nullable;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.infra.Blackhole;
import reactor.core.Disposable;
import reactor.core.publisher.BaseSubscriber;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Schedulers;
import tools.jackson.databind.PropertyNamingStrategies;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.util.unit.DataSize;

import dev.scalpel.slot.SlotPool;
import dev.scalpel.system.LimitProperties;
import dev.scalpel.upstream.Chunk;
import dev.scalpel.upstream.GenerationRequest;
import dev.scalpel.upstream.ModelRouter;
import dev.scalpel.upstream.TokenSource;
import dev.scalpel.upstream.UpstreamProperties;

/**
 * The cost of one token on a running stream, in nanoseconds, with 0, 1, 4 or 16 listeners attached
 * that read everything as it comes: the work the thread that receives a token from upstream does
 * before it can take the next one. Listeners are drained synchronously in that thread
 * ({@link ManagedStream#signal()} runs every listener's drain), so this is also where fan-out to
 * listeners shows.
 *
 * <p>The stream is a real one: a {@link StreamManager} built without Spring (as the tests'
 * {@code Harness} does, with the production defaults of {@code application.yaml} apart from the
 * first-token timeout, see {@link #UPSTREAM}) starts a background stream, which gets its slot and
 * its upstream call at once and stays {@code in_progress}; listeners are attached with
 * {@link StreamManager#attach} after the stream's last event, and each {@link Listener#events()} is
 * subscribed by a reader with unbounded demand that hands every event to the {@link Blackhole}. The
 * log holds up to the default 10,000 events; after the first 10,000 tokens of a trial every append
 * overwrites the oldest, which is the steady state of a long stream.
 *
 * <ul>
 * <li>{@link #append} is the stream's part of a token, as {@code UpstreamCall.Reader} does it:
 * {@link ManagedStream#token} (under the stream's monitor: the JSON encoding of the token event,
 * the {@link StreamEvent}, the {@link EventLog} append) then its listeners' wake-up, which
 * drains each listener: two reads of the log under the monitor (the new event, then an empty read
 * that finds nothing more), the {@code Flux.create} sink and the reader's {@code onNext}.</li>
 * <li>{@link #generation} is the whole path from the upstream {@code Flux} on, with one listener:
 * a chunk emitted into the generation the manager subscribed to goes through the operators the
 * manager puts on every upstream call (the first-token/idle {@code timeout}, which for every chunk
 * cancels the previous idle timer and schedules a new one on {@code Schedulers.parallel()}) into
 * {@code UpstreamCall.Reader.hookOnNext}, then the same token and signal as {@link #append}. The stand-in
 * provider adds nothing of its own (no {@code guard}, no decoding), and the observer is the no-op
 * one, so metrics are not counted here. Its parameter {@code otherTimers} sets what else the timer
 * threads have to do: with {@code 0} this stream's timers are alone (a quiet replica), so every new
 * idle timer becomes the head of its timer queue and wakes that timer thread; with {@code 64}, 64
 * other timers that are due sooner are pending (as the idle timers of other streams that are
 * receiving tokens would be), so a new idle timer only goes into the queue.</li>
 * <li>{@link #encode} is the JSON encoding of a token event alone, with the streams' own encoder,
 * to tell how much of {@link #append} it is.</li>
 * </ul>
 *
 * <p>Honesty checks at the end of each trial: the stream is still {@code in_progress} (had it ended,
 * every token since would have been dropped for nothing), it has taken at least one token, and every
 * reader has read up to its last event.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Threads(1)
public class EventLogBenchmark {

	/** A typical token: one short word with its leading space. */
	static final String TEXT = " scalpel";

	static final String MODEL = "bench";

	/** The defaults of {@code scalpel.streams.*}. */
	static final StreamProperties STREAMS = new StreamProperties(Duration.ofSeconds(30), Duration.ZERO,
			Duration.ofMinutes(10), 10_000, Duration.ofSeconds(15), Duration.ofSeconds(20));

	/**
	 * The defaults of {@code scalpel.upstream.*}, except a first-token timeout of an hour: {@link #append}
	 * appends behind the back of the upstream call, which would otherwise time the stream out after
	 * 60 s without a first chunk. Its value does not change the cost of a token.
	 */
	static final UpstreamProperties UPSTREAM = UpstreamProperties.withTimeouts(Duration.ofHours(1),
			Duration.ofSeconds(30), Duration.ofMinutes(10));

	/** How often each of the {@code otherTimers} of {@link Generating} is due: sooner than the idle timeout. */
	static final Duration OTHER_TIMER_PERIOD = Duration.ofSeconds(25);

	/** The defaults of {@code scalpel.limits.*}. */
	static final LimitProperties LIMITS = new LimitProperties(4096, 256, 200_000, DataSize.ofMegabytes(1), 32);

	/** As Spring Boot configures it for the service (snake_case); a token's payload is a map either way. */
	static final JsonMapper JSON = JsonMapper.builder()
		.propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
		.build();

	/** One token appended to the stream and signalled to its listeners, as {@code UpstreamCall.Reader.hookOnNext} does. */
	@Benchmark
	public void append(Attached attached, Blackhole blackhole) {
		RunningStream running = attached.running();
		ManagedStream stream = running.stream;
		// The append wakes the listeners itself: off an event loop, a drain in this thread.
		blackhole.consume(stream.token(TEXT, running.clock.instant()));
	}

	/** One token chunk emitted by the upstream call and carried by the manager's own subscriber. */
	@Benchmark
	public Sinks.EmitResult generation(Generating generating) {
		return generating.running().upstream().tryEmitNext(new Chunk.Token(TEXT));
	}

	/** The JSON payload of a token event, with the encoder the manager gives its streams. */
	@Benchmark
	public String encode(Encoding encoding) {
		return encoding.encoder().token(TEXT);
	}

	/** A running stream with the parameter's number of listeners attached and reading. */
	@State(Scope.Thread)
	public static class Attached {

		/** Listeners attached to the stream, each reading every event as it comes. */
		@Param({ "0", "1", "4", "16" })
		public int listeners;

		private @Nullable RunningStream running;

		@Setup(Level.Trial)
		public void start(Blackhole blackhole) {
			this.running = new RunningStream(this.listeners, blackhole);
		}

		@TearDown(Level.Trial)
		public void checkAndStop() {
			running().checkAndStop();
		}

		RunningStream running() {
			return started(this.running);
		}

	}

	/** A running stream with one listener, and the parameter's number of other timers pending. */
	@State(Scope.Thread)
	public static class Generating {

		/**
		 * Timers pending on {@code Schedulers.parallel()} besides the stream's own, all due before any
		 * idle timer the stream arms (every 25 s, the idle timeout being 30 s).
		 */
		@Param({ "0", "64" })
		public int otherTimers;

		private final List<Disposable> timers = new ArrayList<>();

		private @Nullable RunningStream running;

		@Setup(Level.Trial)
		public void start(Blackhole blackhole) {
			for (int i = 0; i < this.otherTimers; i++) {
				// Spread over the parallel workers (round robin); periodic, so always due sooner than a new idle timer.
				this.timers.add(Schedulers.parallel().schedulePeriodically(() -> {
				}, OTHER_TIMER_PERIOD.toNanos(), OTHER_TIMER_PERIOD.toNanos(), TimeUnit.NANOSECONDS));
			}
			this.running = new RunningStream(1, blackhole);
		}

		@TearDown(Level.Trial)
		public void checkAndStop() {
			this.timers.forEach(Disposable::dispose);
			running().checkAndStop();
		}

		RunningStream running() {
			return started(this.running);
		}

	}

	private static RunningStream started(@Nullable RunningStream running) {
		if (running == null) {
			throw new IllegalStateException("no stream: the trial setup did not run");
		}
		return running;
	}

	/**
	 * A background stream in progress, started through a {@link StreamManager}, with its upstream call
	 * open and {@code listeners} readers attached after its last event.
	 */
	static final class RunningStream {

		final Clock clock = Clock.systemUTC();

		final ManagedStream stream;

		private final StreamManager manager;

		private final Sinks.Many<Chunk> upstream;

		private final List<Reader> readers = new ArrayList<>();

		private final long firstTokenId;

		RunningStream(int listeners, Blackhole blackhole) {
			PushedSource source = new PushedSource();
			InMemoryStreamRegistry registry = new InMemoryStreamRegistry(STREAMS.retention(), STREAMS.retentionBytes());
			this.manager = manager(source, registry);
			String id = this.manager.start(new StartStreamRequest(MODEL, null, "Benchmark the token path.", null, null,
					true, Map.of()), false).view().id();
			this.stream = registry.find(id).orElseThrow();
			Sinks.Many<Chunk> upstream = source.current;
			if (this.stream.status() != StreamStatus.IN_PROGRESS || upstream == null) {
				throw new IllegalStateException("the stream did not start its upstream call: " + this.stream.view());
			}
			this.upstream = upstream;
			for (int i = 0; i < listeners; i++) {
				Listener listener = this.manager.attach(id, this.stream.lastEventId());
				Reader reader = new Reader(blackhole);
				listener.events().subscribe(reader);
				this.readers.add(reader);
			}
			if (this.stream.listenerCount() != listeners) {
				throw new IllegalStateException(this.stream.listenerCount() + " listeners attached, not " + listeners);
			}
			this.firstTokenId = this.stream.lastEventId() + 1;
		}

		Sinks.Many<Chunk> upstream() {
			return this.upstream;
		}

		/** The run appended tokens to a live stream and every reader read them all; then the manager stops. */
		void checkAndStop() {
			try {
				if (this.stream.status() != StreamStatus.IN_PROGRESS) {
					throw new IllegalStateException("the stream ended during the run, its tokens were dropped: "
							+ this.stream.view());
				}
				long last = this.stream.lastEventId();
				if (last < this.firstTokenId) {
					throw new IllegalStateException("no token reached the stream");
				}
				for (Reader reader : this.readers) {
					reader.check(last);
				}
			}
			finally {
				this.manager.stop();
			}
		}

	}

	/** The encoder of token events that the manager hands its streams. */
	@State(Scope.Thread)
	public static class Encoding {

		private @Nullable EventEncoder encoder;

		@Setup(Level.Trial)
		public void find() {
			// The class the streams encode with, on the mapper the manager is wired with.
			this.encoder = new EventEncoder(JSON);
		}

		EventEncoder encoder() {
			EventEncoder encoder = this.encoder;
			if (encoder == null) {
				throw new IllegalStateException("no encoder: the trial setup did not run");
			}
			return encoder;
		}

	}

	/** A manager wired as {@code StreamConfiguration} wires it, with the production timers. */
	static StreamManager manager(TokenSource source, StreamRegistry registry) {
		StreamManager manager = StreamCore.of(
				new StreamCore.Settings(STREAMS, UPSTREAM, LIMITS, MODEL, Duration.ofSeconds(1)),
				new SlotPool(64, 256, Duration.ofSeconds(30)), new ModelRouter(List.of(source)), registry,
				SharedStreams.NONE, new StreamObserver() {
				}, JSON, Clock.systemUTC(), Schedulers.parallel()).manager();
		manager.start();
		return manager;
	}

	/**
	 * Stands in for a provider: each generation is a sink that the benchmark thread emits into, which
	 * calls the subscriber's {@code onNext} directly (single producer, so the unsafe sink).
	 */
	static final class PushedSource implements TokenSource {

		volatile Sinks.@Nullable Many<Chunk> current;

		@Override
		public String name() {
			return MODEL;
		}

		@Override
		public Set<String> models() {
			return Set.of(MODEL);
		}

		@Override
		public Flux<Chunk> generate(GenerationRequest request) {
			return Flux.defer(() -> {
				Sinks.Many<Chunk> sink = Sinks.unsafe().many().unicast().onBackpressureError();
				this.current = sink;
				return sink.asFlux();
			});
		}

	}

	/** Reads a listener's events as they come (unbounded demand) into the {@link Blackhole}. */
	static final class Reader extends BaseSubscriber<StreamEvent> {

		private final Blackhole blackhole;

		/** Id of the last event read; only the benchmark thread, which drains the listener, writes it. */
		private long lastId;

		private boolean completed;

		private @Nullable Throwable error;

		Reader(Blackhole blackhole) {
			this.blackhole = blackhole;
		}

		@Override
		protected void hookOnNext(StreamEvent event) {
			this.lastId = event.id();
			this.blackhole.consume(event);
		}

		@Override
		protected void hookOnComplete() {
			this.completed = true;
		}

		@Override
		protected void hookOnError(Throwable failure) {
			this.error = failure;
		}

		void check(long last) {
			if (this.error != null || this.completed || this.lastId != last) {
				throw new IllegalStateException("a reader read up to event " + this.lastId + " of " + last
						+ (this.completed ? ", completed early" : "")
						+ ((this.error != null) ? ", failed: " + this.error : ""));
			}
		}

	}

}
