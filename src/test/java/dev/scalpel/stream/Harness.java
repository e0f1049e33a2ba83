package dev.scalpel.stream;

import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import org.jspecify.annotations.Nullable;
import org.reactivestreams.Subscription;
import reactor.core.publisher.BaseSubscriber;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;
import tools.jackson.databind.PropertyNamingStrategies;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.util.unit.DataSize;

import dev.scalpel.system.LimitProperties;
import dev.scalpel.slot.SlotPool;
import dev.scalpel.upstream.ModelRouter;
import dev.scalpel.upstream.TokenSource;
import dev.scalpel.upstream.UpstreamProperties;

/** Builds a {@link StreamManager} without Spring, and records what listeners receive. */
final class Harness {

	static final JsonMapper JSON = JsonMapper.builder()
		.propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
		.build();

	private Harness() {
	}

	static StreamProperties streams() {
		return streams(Duration.ofSeconds(30), Duration.ZERO, 10_000);
	}

	static StreamProperties streams(Duration attachTimeout, Duration disconnectGrace, int maxEvents) {
		return new StreamProperties(attachTimeout, disconnectGrace, Duration.ofMinutes(10), maxEvents,
				Duration.ofSeconds(15), Duration.ofSeconds(1));
	}

	static UpstreamProperties upstream() {
		return UpstreamProperties.withTimeouts(Duration.ofSeconds(60), Duration.ofSeconds(30), Duration.ofMinutes(10));
	}

	static LimitProperties limits() {
		return new LimitProperties(4096, 256, 200_000, DataSize.ofMegabytes(1), 32);
	}

	static StreamManager manager(SlotPool slots, StreamProperties streams, UpstreamProperties upstream,
			TokenSource... sources) {
		return manager(slots, streams, upstream, Schedulers.parallel(), sources);
	}

	static StreamManager manager(SlotPool slots, StreamProperties streams, UpstreamProperties upstream,
			Scheduler timers, TokenSource... sources) {
		return manager(slots, streams, upstream, timers,
				new InMemoryStreamRegistry(streams.retention(), streams.retentionBytes()), sources);
	}

	static StreamManager manager(SlotPool slots, StreamProperties streams, UpstreamProperties upstream,
			Scheduler timers, StreamRegistry registry, TokenSource... sources) {
		return manager(slots, streams, upstream, timers, registry, Clock.systemUTC(), sources);
	}

	static StreamManager manager(SlotPool slots, StreamProperties streams, UpstreamProperties upstream,
			Scheduler timers, StreamRegistry registry, Clock clock, TokenSource... sources) {
		return manager(slots, streams, upstream, timers, registry, clock, SharedStreams.NONE, sources);
	}

	static StreamManager manager(SlotPool slots, StreamProperties streams, UpstreamProperties upstream,
			Scheduler timers, StreamRegistry registry, Clock clock, SharedStreams shared, TokenSource... sources) {
		StreamManager manager = StreamCore.of(
				new StreamCore.Settings(streams, upstream, limits(), "simulated", Duration.ofSeconds(1)), slots,
				new ModelRouter(List.of(sources)), registry, shared, new StreamObserver() {
				}, JSON, clock, timers).manager();
		manager.start();
		return manager;
	}

	static StartStreamRequest prompt(String model, String prompt) {
		return new StartStreamRequest(model, null, prompt, null, null, null, null);
	}

	static StartStreamRequest background(String model, String prompt) {
		return new StartStreamRequest(model, null, prompt, null, null, true, Map.of());
	}

	/** A listener's subscriber that records events and requests on the test's command. */
	static final class Recorder extends BaseSubscriber<StreamEvent> {

		final List<StreamEvent> events = new CopyOnWriteArrayList<>();

		private final long initialDemand;

		volatile boolean completed;

		volatile @Nullable Throwable error;

		private Recorder(long initialDemand) {
			this.initialDemand = initialDemand;
		}

		/** Subscribes a recorder that reads everything as it comes. */
		static Recorder reading(Listener listener) {
			Recorder recorder = new Recorder(Long.MAX_VALUE);
			listener.events().subscribe(recorder);
			return recorder;
		}

		/** Subscribes a recorder that reads only as much as the test asks for. */
		static Recorder withDemand(Listener listener, long demand) {
			Recorder recorder = new Recorder(demand);
			listener.events().subscribe(recorder);
			return recorder;
		}

		@Override
		protected void hookOnSubscribe(Subscription subscription) {
			if (this.initialDemand > 0) {
				subscription.request(this.initialDemand);
			}
		}

		@Override
		protected void hookOnNext(StreamEvent event) {
			this.events.add(event);
		}

		@Override
		protected void hookOnComplete() {
			this.completed = true;
		}

		@Override
		protected void hookOnError(Throwable throwable) {
			this.error = throwable;
		}

		List<String> types() {
			List<String> types = new ArrayList<>();
			for (StreamEvent event : this.events) {
				types.add(event.type());
			}
			return types;
		}

		@Nullable StreamEvent last() {
			return this.events.isEmpty() ? null : this.events.get(this.events.size() - 1);
		}

		long terminalEvents() {
			return this.events.stream().filter(StreamEvent::terminal).count();
		}

	}

}
