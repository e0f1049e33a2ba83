package dev.scalpel.observe;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;

import dev.scalpel.slot.SlotPool;
import dev.scalpel.stream.StreamManager;

/** The gauges of API.md (Operations), read from the slot pool and the manager when scraped. */
final class StreamGauges implements MeterBinder {

	private final SlotPool slots;

	private final StreamManager manager;

	StreamGauges(SlotPool slots, StreamManager manager) {
		this.slots = slots;
		this.manager = manager;
	}

	@Override
	public void bindTo(MeterRegistry registry) {
		Gauge.builder("scalpel.slots.capacity", this.slots, SlotPool::capacity)
			.description("Configured slots")
			.register(registry);
		Gauge.builder("scalpel.slots.in_use", this.slots, SlotPool::inUse)
			.description("Slots held right now")
			.register(registry);
		Gauge.builder("scalpel.queue.size", this.slots, SlotPool::queued)
			.description("Streams waiting for a slot")
			.register(registry);
		Gauge.builder("scalpel.listeners.active", this.manager, StreamManager::listenerCount)
			.description("Attached SSE listeners")
			.register(registry);
		Gauge.builder("scalpel.upstream.active", this.manager, StreamManager::upstreamCount)
			.description("Open upstream calls")
			.register(registry);
		Gauge.builder("scalpel.streams.retained", this.manager, StreamManager::retainedBytes)
			.description("Heap that finished streams keep with their events (estimated), within scalpel.streams.retention-memory")
			.baseUnit("bytes")
			.tag("state", "full")
			.register(registry);
		Gauge.builder("scalpel.streams.retained", this.manager, StreamManager::compactedBytes)
			.description("Heap that finished streams keep with their events (estimated), within scalpel.streams.retention-memory")
			.baseUnit("bytes")
			.tag("state", "compacted")
			.register(registry);
	}

}
