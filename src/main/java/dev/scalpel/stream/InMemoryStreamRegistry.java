package dev.scalpel.stream;

import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Scheduler;

/**
 * The single-replica registry. Live streams sit in a map until their terminal transition moves them
 * to a Caffeine cache that expires each one the retention after it ended: no sweep, and a stream is
 * findable in one of the two at every moment (it is put in the cache before it leaves the map).
 */
final class InMemoryStreamRegistry implements StreamRegistry {

	private final ConcurrentHashMap<String, ManagedStream> live = new ConcurrentHashMap<>();

	private final Cache<String, ManagedStream> retained;

	InMemoryStreamRegistry(Duration retention) {
		this.retained = Caffeine.newBuilder()
			.expireAfterWrite(retention)
			// Expired entries are removed on time, not only on the next access.
			.scheduler(Scheduler.systemScheduler())
			.build();
	}

	@Override
	public void register(ManagedStream stream) {
		this.live.put(stream.id(), stream);
		if (stream.terminal()) {
			retire(stream);
		}
	}

	@Override
	public Optional<ManagedStream> find(String id) {
		ManagedStream stream = this.live.get(id);
		return (stream != null) ? Optional.of(stream) : Optional.ofNullable(this.retained.getIfPresent(id));
	}

	@Override
	public void retire(ManagedStream stream) {
		// The end of a stream that is not registered yet is handled by register().
		if (this.live.containsKey(stream.id())) {
			this.retained.put(stream.id(), stream);
			this.live.remove(stream.id(), stream);
		}
	}

	@Override
	public Collection<ManagedStream> live() {
		return List.copyOf(this.live.values());
	}

	@Override
	public Collection<ManagedStream> all() {
		// A stream being retired may be in both for a moment; keep one.
		Map<String, ManagedStream> all = new HashMap<>(this.retained.asMap());
		all.putAll(this.live);
		return all.values();
	}

}
