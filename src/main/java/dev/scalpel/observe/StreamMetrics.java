package dev.scalpel.observe;

import java.time.Duration;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.Map;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import org.jspecify.annotations.Nullable;

import dev.scalpel.stream.FinishReason;
import dev.scalpel.stream.StreamObserver;

/**
 * The counters and timers of API.md (Operations), fed by the stream lifecycle; the gauges are in
 * {@link StreamGauges}. Every tagged meter is registered up front with each of its tag
 * values, so dashboards and alerts see zeros rather than gaps, and cardinality is fixed: no stream id
 * is ever a tag. Timers publish a histogram with fixed buckets, so PromQL's {@code histogram_quantile}
 * gives any percentile across instances (the Prometheus registry exports a histogram or client-side
 * percentiles, not both; client-side percentiles cannot be aggregated across replicas anyway). Fixed
 * buckets keep the series count small: 17 per timer and tag value.
 */
public final class StreamMetrics implements StreamObserver {

	/** The {@code trigger} of {@code scalpel.slot.release}, by finish reason; reasons without a slot map to none. */
	private static final Map<FinishReason, String> TRIGGERS = Map.of(FinishReason.STOP, "complete",
			FinishReason.LENGTH, "complete", FinishReason.CANCEL_REQUESTED, "cancel", FinishReason.CLIENT_DISCONNECTED,
			"disconnect", FinishReason.UPSTREAM_ERROR, "error", FinishReason.INTERNAL_ERROR, "error",
			FinishReason.OWNER_LOST, "error", FinishReason.TIMEOUT, "timeout", FinishReason.SHUTDOWN, "shutdown");

	private final Counter started;

	private final Counter tokens;

	private final Timer queueWait;

	private final Timer ttft;

	private final Map<FinishReason, Counter> finished = new EnumMap<>(FinishReason.class);

	private final Map<Rejection, Counter> rejected = new EnumMap<>(Rejection.class);

	private final Map<String, Timer> release = new HashMap<>();

	public StreamMetrics(MeterRegistry registry) {
		this.started = Counter.builder("scalpel.streams.started").description("Streams created").register(registry);
		this.tokens = Counter.builder("scalpel.tokens").description("Tokens sent").register(registry);
		this.queueWait = timer("scalpel.queue.wait", "Time from asking for a slot to getting it").register(registry);
		this.ttft = timer("scalpel.stream.ttft", "Time from asking for a slot to the first token").register(registry);
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
		for (String trigger : TRIGGERS.values()) {
			this.release.computeIfAbsent(trigger,
					name -> timer("scalpel.slot.release", "Time from the trigger to the slot being free")
						.tag("trigger", name)
						.register(registry));
		}
	}

	/** Bucket bounds from 50 µs to 5 min: fine where releases are measured, coarse where waits are. */
	private static final Duration[] BUCKETS = { Duration.ofNanos(50_000), Duration.ofNanos(100_000),
			Duration.ofNanos(250_000), Duration.ofNanos(500_000), Duration.ofMillis(1), Duration.ofMillis(2),
			Duration.ofMillis(5), Duration.ofMillis(10), Duration.ofMillis(25), Duration.ofMillis(50),
			Duration.ofMillis(100), Duration.ofMillis(250), Duration.ofMillis(500), Duration.ofSeconds(1),
			Duration.ofSeconds(5), Duration.ofSeconds(30), Duration.ofMinutes(5) };

	private static Timer.Builder timer(String name, String description) {
		return Timer.builder(name).description(description).serviceLevelObjectives(BUCKETS);
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
		String trigger = TRIGGERS.get(reason);
		if (slotRelease != null && trigger != null) {
			this.release.get(trigger).record(slotRelease);
		}
	}


}
