package dev.scalpel.observe;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.scheduler.Scheduler;

import org.springframework.context.SmartLifecycle;

import dev.scalpel.stream.LeakAudit;
import dev.scalpel.stream.StreamManager;

/**
 * The alarm behind the design rule "release at the event, never at the sweep": every
 * {@code scalpel.auditor.interval} it has the manager check the invariants of ARCHITECTURE.md and
 * reclaim what breaks them, logs each case at WARN with the stream id and what was wrong, and counts it
 * in {@code scalpel.leaks.reclaimed{resource}}. Anything it finds is a bug; in normal operation the
 * counter stays 0.
 */
public final class LeakAuditor implements SmartLifecycle {

	private static final Logger logger = LoggerFactory.getLogger(LeakAuditor.class);

	static final List<String> RESOURCES = List.of("slot", "stream", "listener");

	private final StreamManager manager;

	private final Duration interval;

	private final Scheduler scheduler;

	private final Map<String, Counter> reclaimed;

	private volatile @Nullable Disposable schedule;

	public LeakAuditor(StreamManager manager, MeterRegistry registry, Duration interval, Scheduler scheduler) {
		this.manager = manager;
		this.interval = interval;
		this.scheduler = scheduler;
		this.reclaimed = RESOURCES.stream()
			.collect(java.util.stream.Collectors.toUnmodifiableMap(resource -> resource,
					resource -> Counter.builder("scalpel.leaks.reclaimed")
						.description("Resources the leak auditor had to reclaim; must stay 0")
						.tag("resource", resource)
						.register(registry)));
	}

	/** One audit: checks, reclaims, logs and counts. Returns what it found. */
	public List<LeakAudit.Leak> audit() {
		List<LeakAudit.Leak> leaks = this.manager.audit(this.interval);
		for (LeakAudit.Leak leak : leaks) {
			logger.atWarn()
				.addKeyValue("stream_id", leak.streamId())
				.addKeyValue("resource", leak.resource())
				.log("Leak reclaimed: {} of stream {}: {}", leak.resource(), leak.streamId(), leak.problem());
			this.reclaimed.get(leak.resource()).increment();
		}
		return leaks;
	}

	@Override
	public void start() {
		this.schedule = Flux.interval(this.interval, this.interval, this.scheduler).subscribe(tick -> {
			try {
				audit();
			}
			catch (RuntimeException ex) {
				logger.error("Leak audit failed", ex);
			}
		});
	}

	@Override
	public void stop() {
		Disposable running = this.schedule;
		if (running != null) {
			running.dispose();
			this.schedule = null;
		}
	}

	@Override
	public boolean isRunning() {
		return this.schedule != null;
	}

}
