package dev.scalpel.stream;

import java.time.Clock;
import java.time.Duration;

import reactor.core.scheduler.Scheduler;
import tools.jackson.databind.json.JsonMapper;

import dev.scalpel.slot.SlotPool;
import dev.scalpel.system.LimitProperties;
import dev.scalpel.upstream.ModelRouter;
import dev.scalpel.upstream.UpstreamProperties;

/**
 * The stream core put together, each job built once from what it needs: the one place that knows
 * the order in which they depend on each other.
 * @param manager this replica's streams
 * @param directory streams wherever they run
 */
record StreamCore(StreamManager manager, StreamDirectory directory) {

	/** What the core is built from. */
	record Settings(StreamProperties streams, UpstreamProperties upstream, LimitProperties limits,
			String defaultModel, Duration retryAfter) {
	}

	static StreamCore of(Settings settings, SlotPool slots, ModelRouter router, StreamRegistry registry,
			SharedStreams shared, StreamObserver observer, JsonMapper json, Clock clock, Scheduler timers) {
		Quotas quotas = new Quotas(settings.retryAfter());
		StreamLifecycle lifecycle = new StreamLifecycle(registry, quotas, observer, settings.streams(), clock, timers);
		UpstreamCall upstream = new UpstreamCall(settings.upstream(), lifecycle, observer, clock, timers);
		SlotAcquisition acquisition = new SlotAcquisition(slots, settings.retryAfter(), lifecycle, upstream);
		Admission admission = new Admission(new StartRequestValidator(settings.limits(), settings.defaultModel()),
				router, shared, quotas, new EventEncoder(json), clock, settings.streams().maxEvents());
		LeakAudit audit = new LeakAudit(slots, registry, lifecycle, settings.streams(), settings.upstream());
		StreamManager manager = new StreamManager(admission, acquisition, lifecycle, upstream, audit, registry, shared,
				settings.streams().drainTimeout(), timers);
		return new StreamCore(manager, new StreamDirectory(manager, registry, shared));
	}

}
