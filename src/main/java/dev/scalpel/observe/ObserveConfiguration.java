package dev.scalpel.observe;

import java.time.Duration;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import reactor.core.scheduler.Schedulers;
import reactor.netty.http.HttpResources;

import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

import dev.scalpel.slot.SlotPool;
import dev.scalpel.stream.StreamManager;

/** Meters, lifecycle logs, slot health, the streams endpoint and the leak auditor. */
@Configuration(proxyBeanMethods = false)
class ObserveConfiguration {

	@Bean
	StreamMetrics streamMetrics(MeterRegistry registry) {
		return new StreamMetrics(registry);
	}

	/** Probes Reactor Netty's event loops (the server's and the WebClient's) ten times a second. */
	@Bean
	EventLoopDelay eventLoopDelay(MeterRegistry registry) {
		return new EventLoopDelay(() -> HttpResources.get().onServer(true), Duration.ofMillis(100), registry);
	}

	@Bean
	StreamGauges streamGauges(SlotPool slots, StreamManager manager) {
		return new StreamGauges(slots, manager);
	}

	@Bean
	StreamLog streamLog() {
		return new StreamLog();
	}

	/** Log lines dropped because they came faster than they could be written ({@link AsyncLogging}). */
	@Bean
	MeterBinder droppedLogLines() {
		return registry -> FunctionCounter.builder("scalpel.log.dropped", AsyncLogging.class, unused -> AsyncLogging.dropped())
			.description("Log lines dropped because they came faster than they could be written")
			.register(registry);
	}

	@Bean
	SlotsHealthIndicator slotsHealthIndicator(SlotPool slots) {
		return new SlotsHealthIndicator(slots);
	}

	@Bean
	StreamsEndpoint streamsEndpoint(StreamManager manager) {
		return new StreamsEndpoint(manager);
	}

	@Bean
	@ConditionalOnBooleanProperty(name = "scalpel.auditor.enabled", matchIfMissing = true)
	LeakAuditor leakAuditor(StreamManager manager, MeterRegistry registry, AuditorProperties auditor) {
		return new LeakAuditor(manager, registry, auditor.interval(), Schedulers.parallel());
	}

}
