package dev.scalpel.stream;

import java.time.Clock;

import reactor.core.scheduler.Schedulers;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

import dev.scalpel.system.LimitProperties;
import dev.scalpel.slot.QueueProperties;
import dev.scalpel.slot.SlotPool;
import dev.scalpel.upstream.ModelRouter;
import dev.scalpel.upstream.ProviderProperties;
import dev.scalpel.upstream.UpstreamProperties;

/** The stream manager and its single-replica registry. */
@Configuration(proxyBeanMethods = false)
class StreamConfiguration {

	@Bean
	StreamManager streamManager(SlotPool slots, ModelRouter router, StreamProperties streams,
			UpstreamProperties upstream, LimitProperties limits, ProviderProperties providers, QueueProperties queue,
			JsonMapper json) {
		return new StreamManager(slots, router, new InMemoryStreamRegistry(streams.retention()), streams, upstream,
				limits, providers.defaultModel(), queue.retryAfter(), json, Clock.systemUTC(), Schedulers.parallel());
	}

}
