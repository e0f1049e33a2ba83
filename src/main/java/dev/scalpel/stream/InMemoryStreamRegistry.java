package dev.scalpel.stream;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import com.github.benmanes.caffeine.cache.RemovalCause;
import com.github.benmanes.caffeine.cache.Scheduler;
import com.github.benmanes.caffeine.cache.Ticker;

/**
 * The single-replica registry. Live streams sit in a map until their terminal transition moves them
 * to a Caffeine cache that expires each one the retention after it ended: no sweep, and a stream is
 * findable at every moment (it is put in the cache before it leaves the map).
 *
 * <p>Ended streams are also held to a memory budget, for without one the heap they take grows with
 * the rate of streams times the retention (at 200 streams a second and ten minutes, 120,000 ended
 * streams: gigabytes, with their events and prompts). Past three quarters of the budget, the oldest
 * ended stream is not forgotten but compacted — its events and prompt let go, its status kept — and
 * moves to a second cache with the expiry it had: its status still answers (a cancelled stream keeps
 * answering {@code cancelled}), replaying it answers {@code 410}. The compacted, about a kilobyte
 * each, have the last quarter; past that, the oldest are forgotten before their retention ends: the
 * one way an ended stream answers {@code 404} early, and only when the rate of streams leaves no
 * other.
 *
 * <p>Oldest first, by retirement: Caffeine's own size bound would not do, as its admission policy
 * favours what is read often and may turn away the newest stream first. The order is kept here, in
 * two queues under one lock taken once per retirement, compaction and expiry.
 */
final class InMemoryStreamRegistry implements StreamRegistry {

	private final ConcurrentHashMap<String, ManagedStream> live = new ConcurrentHashMap<>();

	/** Ended streams with their events. */
	private final Cache<String, ManagedStream> retained;

	/** Ended streams compacted to their status, to stay within the budget. */
	private final Cache<String, ManagedStream> compacted;

	private final Duration retention;

	private final Ticker ticker;

	private final long memory;

	private final Object budget = new Object();

	/** Retained streams, oldest retired first; guarded by {@link #budget}. */
	private final ArrayDeque<ManagedStream> retainedOrder = new ArrayDeque<>();

	/** Compacted streams, oldest retired first; guarded by {@link #budget}. */
	private final ArrayDeque<ManagedStream> compactedOrder = new ArrayDeque<>();

	/** Guarded by {@link #budget}. */
	private long retainedBytes;

	/** Guarded by {@link #budget}. */
	private long compactedBytes;

	/**
	 * @param memory the most bytes (estimated) that ended streams keep: three quarters for those with
	 * their events, a quarter for the compacted
	 */
	InMemoryStreamRegistry(Duration retention, long memory) {
		this(retention, memory, Ticker.systemTicker(), Scheduler.systemScheduler());
	}

	InMemoryStreamRegistry(Duration retention, long memory, Ticker ticker, Scheduler scheduler) {
		this.retention = retention;
		this.ticker = ticker;
		this.memory = memory;
		this.retained = Caffeine.newBuilder()
			.ticker(ticker)
			// Expired entries are removed on time, not only on the next access.
			.scheduler(scheduler)
			// Its upkeep runs in the calling thread: a write per stream end would otherwise wake a
			// common-pool thread each time, which on a one-core container takes the event loop's core.
			.executor(Runnable::run)
			.expireAfterWrite(retention)
			.removalListener((String id, ManagedStream stream, RemovalCause cause) -> expired(stream, cause, false))
			.build();
		this.compacted = Caffeine.newBuilder()
			.ticker(ticker)
			.scheduler(scheduler)
			.executor(Runnable::run)
			// A compacted stream keeps the expiry it had: the retention after it was retired.
			.expireAfter(Expiry.creating((String id, ManagedStream stream) -> remaining(stream)))
			.removalListener((String id, ManagedStream stream, RemovalCause cause) -> expired(stream, cause, true))
			.build();
	}

	/** What is left of a stream's retention, from its retirement. */
	private Duration remaining(ManagedStream stream) {
		long left = this.retention.toNanos() - (this.ticker.read() - stream.retained().retiredTicks());
		return Duration.ofNanos(Math.max(1, left));
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
		if (stream == null) {
			stream = this.retained.getIfPresent(id);
		}
		if (stream == null) {
			stream = this.compacted.getIfPresent(id);
		}
		return Optional.ofNullable(stream);
	}

	@Override
	public void retire(ManagedStream stream) {
		// The end of a stream that is not registered yet is handled by register().
		if (!this.live.containsKey(stream.id())) {
			return;
		}
		stream.freeze();
		long weight = stream.weight();
		stream.retained().retired(this.ticker.read(), weight);
		this.retained.put(stream.id(), stream);
		this.live.remove(stream.id(), stream);
		synchronized (this.budget) {
			this.retainedOrder.addLast(stream);
			this.retainedBytes += weight;
			while (this.retainedBytes > this.memory - this.memory / 4 && !this.retainedOrder.isEmpty()) {
				compact(this.retainedOrder.pollFirst());
			}
			while (this.compactedBytes > this.memory / 4 && !this.compactedOrder.isEmpty()) {
				ManagedStream oldest = this.compactedOrder.pollFirst();
				this.compactedBytes -= oldest.compactedWeight();
				this.compacted.asMap().remove(oldest.id(), oldest);
			}
		}
	}

	/** Moves the oldest retained stream to the compacted; under {@link #budget}. */
	private void compact(ManagedStream oldest) {
		this.retainedBytes -= oldest.retained().weight();
		if (this.retained.asMap().get(oldest.id()) != oldest) {
			// Expired meanwhile; its removal finds it gone from the queue.
			return;
		}
		oldest.compact();
		// Put before it leaves the retained: findable throughout.
		this.compacted.put(oldest.id(), oldest);
		this.retained.asMap().remove(oldest.id(), oldest);
		this.compactedOrder.addLast(oldest);
		this.compactedBytes += oldest.compactedWeight();
	}

	/** An expired stream leaves its queue and its bytes with it (the oldest, or near it). */
	private void expired(ManagedStream stream, RemovalCause cause, boolean wasCompacted) {
		if (stream == null || cause != RemovalCause.EXPIRED) {
			return;
		}
		synchronized (this.budget) {
			if (wasCompacted) {
				if (this.compactedOrder.remove(stream)) {
					this.compactedBytes -= stream.compactedWeight();
				}
			}
			else if (this.retainedOrder.remove(stream)) {
				this.retainedBytes -= stream.retained().weight();
			}
		}
	}

	@Override
	public Collection<ManagedStream> live() {
		return List.copyOf(this.live.values());
	}

	@Override
	public Collection<ManagedStream> all() {
		// A stream being retired or compacted may be in two for a moment; keep one.
		Map<String, ManagedStream> all = new HashMap<>(this.compacted.asMap());
		all.putAll(this.retained.asMap());
		all.putAll(this.live);
		return all.values();
	}

	@Override
	public long[] retainedBytes() {
		synchronized (this.budget) {
			return new long[] { this.retainedBytes, this.compactedBytes };
		}
	}

}
