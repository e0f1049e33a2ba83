package dev.scalpel.observe;

import java.time.Duration;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.distribution.ValueAtPercentile;
import org.jspecify.annotations.Nullable;

import dev.scalpel.stream.FinishReason;
import dev.scalpel.stream.StreamObserver;

/**
 * The counters and timers of API.md (Operations), fed by the stream lifecycle; the gauges are in
 * {@link StreamGauges}. Every tagged meter is registered up front with each of its tag
 * values, so dashboards and alerts see zeros rather than gaps, and cardinality is fixed: no stream id
 * is ever a tag. Timers publish a histogram with fixed buckets (17 per timer and tag value), so PromQL's
 * {@code histogram_quantile} gives any percentile aggregated across replicas; and, since a Prometheus
 * histogram cannot carry quantiles (the registry drops a timer's client-side percentiles when it has
 * buckets), this instance's exact p50/p95/p99 as the gauge {@code <timer>.percentile} with a
 * {@code quantile} tag, e.g. {@code scalpel_slot_release_percentile_seconds{quantile="0.99"}}.
 */
public final class StreamMetrics implements StreamObserver {

	/** The {@code trigger} values of {@code scalpel.slot.release} (API.md, Operations), from {@link #trigger}. */
	static final List<String> TRIGGERS = Arrays.stream(FinishReason.values())
		.map(StreamMetrics::trigger)
		.filter(Objects::nonNull)
		.distinct()
		.toList();

	private final Counter started;

	private final Counter tokens;

	private final Counter dropped;

	private final Timer queueWait;

	private final Timer ttft;

	private final Map<FinishReason, Counter> finished = new EnumMap<>(FinishReason.class);

	private final Map<Rejection, Counter> rejected = new EnumMap<>(Rejection.class);

	private final Map<String, Timer> release = new HashMap<>();

	public StreamMetrics(MeterRegistry registry) {
		this.started = Counter.builder("scalpel.streams.started").description("Streams created").register(registry);
		this.tokens = Counter.builder("scalpel.tokens").description("Tokens sent").register(registry);
		this.dropped = Counter.builder("scalpel.listeners.dropped")
			.description("Listeners dropped for not keeping up with their stream; their clients may resume")
			.register(registry);
		this.queueWait = percentiles(
				timer("scalpel.queue.wait", "Time from asking for a slot to getting it").register(registry), registry);
		this.ttft = percentiles(
				timer("scalpel.stream.ttft", "Time from asking for a slot to the first token").register(registry),
				registry);
		for (FinishReason reason : FinishReason.values()) {
			this.finished.put(reason, Counter.builder("scalpel.streams.finished")
				.description("Terminal transitions")
				.tag("status", reason.status().wireName())
				.tag("reason", reason.wireName())
				.register(registry));
		}
		for (Rejection reason : Rejection.values()) {
			this.rejected.put(reason, Counter.builder("scalpel.streams.rejected")
				.description("Starts refused")
				.tag("reason", reason.tag())
				.register(registry));
		}
		for (String trigger : TRIGGERS) {
			this.release.computeIfAbsent(trigger,
					name -> percentiles(timer("scalpel.slot.release", "Time from the trigger to the slot being free")
						.tag("trigger", name)
						.register(registry), registry));
		}
	}

	/** Bucket bounds from 50 µs to 5 min: fine where releases are measured, coarse where waits are. */
	private static final Duration[] BUCKETS = { Duration.ofNanos(50_000), Duration.ofNanos(100_000),
			Duration.ofNanos(250_000), Duration.ofNanos(500_000), Duration.ofMillis(1), Duration.ofMillis(2),
			Duration.ofMillis(5), Duration.ofMillis(10), Duration.ofMillis(25), Duration.ofMillis(50),
			Duration.ofMillis(100), Duration.ofMillis(250), Duration.ofMillis(500), Duration.ofSeconds(1),
			Duration.ofSeconds(5), Duration.ofSeconds(30), Duration.ofMinutes(5) };

	/** The percentiles every timer publishes, as {@code quantile} gauges. */
	private static final double[] PERCENTILES = { 0.5, 0.95, 0.99 };

	static Timer.Builder timer(String name, String description) {
		return Timer.builder(name)
			.description(description)
			.serviceLevelObjectives(BUCKETS)
			.publishPercentiles(PERCENTILES);
	}

	/** Publishes the timer's client-side percentiles as gauges that the Prometheus registry keeps. */
	static Timer percentiles(Timer timer, MeterRegistry registry) {
		for (double percentile : PERCENTILES) {
			Gauge.builder(timer.getId().getName() + ".percentile", timer, measured -> valueAt(measured, percentile))
				.description(timer.getId().getDescription())
				.tags(timer.getId().getTagsAsIterable())
				.tag("quantile", Double.toString(percentile))
				.baseUnit("seconds")
				.register(registry);
		}
		return timer;
	}

	private static double valueAt(Timer timer, double percentile) {
		for (ValueAtPercentile value : timer.takeSnapshot().percentileValues()) {
			if (value.percentile() == percentile) {
				return value.value(TimeUnit.SECONDS);
			}
		}
		return Double.NaN;
	}

	/**
	 * The {@code trigger} of {@code scalpel.slot.release} for a finish reason; null for the reasons a
	 * stream ends with before it ever held a slot. A switch without a default, so that a new reason
	 * cannot be added without a trigger (a stream that ended with {@code tool_calls} once freed its slot
	 * unrecorded).
	 */
	static @Nullable String trigger(FinishReason reason) {
		return switch (reason) {
			case STOP, LENGTH, TOOL_CALLS, CONTENT_FILTER -> "complete";
			case CANCEL_REQUESTED -> "cancel";
			case CLIENT_DISCONNECTED -> "disconnect";
			case UPSTREAM_ERROR, INTERNAL_ERROR, OWNER_LOST -> "error";
			case TIMEOUT -> "timeout";
			case SHUTDOWN -> "shutdown";
			case NEVER_ATTACHED, QUEUE_TIMEOUT -> null;
		};
	}

	@Override
	public void created(String id, String model, boolean background) {
		this.started.increment();
	}

	@Override
	public void rejected(Rejection reason) {
		this.rejected.get(reason).increment();
	}

	@Override
	public void started(String id, Duration waited) {
		this.queueWait.record(waited);
	}

	@Override
	public void firstToken(String id, Duration sinceAsked) {
		this.ttft.record(sinceAsked);
	}

	@Override
	public void token() {
		this.tokens.increment();
	}

	@Override
	public void ended(String id, FinishReason reason, Duration lifetime, @Nullable Duration ran,
			@Nullable Duration slotRelease) {
		this.finished.get(reason).increment();
		String trigger = trigger(reason);
		if (slotRelease != null && trigger != null) {
			this.release.get(trigger).record(slotRelease);
		}
	}

	@Override
	public void listenerDropped(String id) {
		this.dropped.increment();
	}

}
