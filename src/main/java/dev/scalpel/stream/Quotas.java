package dev.scalpel.stream;

import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicInteger;

import io.github.resilience4j.ratelimiter.RateLimiter;
import io.github.resilience4j.ratelimiter.RateLimiterConfig;
import io.github.resilience4j.ratelimiter.internal.AtomicRateLimiter;
import org.jspecify.annotations.Nullable;

/**
 * Each key's use of its quota on this replica: its streams not yet ended, and its starts in the
 * current minute (Resilience4j's rate limiter, asked without waiting). A start takes one of each
 * before anything is created; the stream's terminal transition gives the first back, in the same
 * call that frees its slot. Keys are configured, so the table is bounded by the configuration.
 */
final class Quotas {

	private static final Duration MINUTE = Duration.ofMinutes(1);

	private final ConcurrentMap<String, Usage> usage = new ConcurrentHashMap<>();

	/** What a client is told to wait when it has too many streams at once (when one ends is unknown). */
	private final Duration concurrentRetryAfter;

	Quotas(Duration concurrentRetryAfter) {
		this.concurrentRetryAfter = concurrentRetryAfter;
	}

	/** One key's use. */
	private static final class Usage {

		final AtomicInteger live = new AtomicInteger();

		final Caller.Quota quota;

		final @Nullable AtomicRateLimiter starts;

		Usage(String owner, Caller.Quota quota) {
			this.quota = quota;
			this.starts = (quota.startsPerMinute() > 0) ? new AtomicRateLimiter("starts-" + owner,
					RateLimiterConfig.custom()
						.limitForPeriod(quota.startsPerMinute())
						.limitRefreshPeriod(MINUTE)
						.timeoutDuration(Duration.ZERO)
						.build()) : null;
		}

	}

	/**
	 * Takes a place for one more stream of the caller's, or refuses with {@link QuotaExceeded} and
	 * takes nothing. Returns whether a place was taken (to be given back by {@link #release}).
	 */
	boolean admit(Caller caller) {
		if (!caller.quota().limited()) {
			return false;
		}
		Usage usage = this.usage.computeIfAbsent(caller.owner(), owner -> new Usage(owner, caller.quota()));
		int max = usage.quota.maxConcurrentStreams();
		if (max > 0) {
			int live;
			do {
				live = usage.live.get();
				if (live >= max) {
					throw new QuotaExceeded("This key may run at most " + max + " streams at once; " + live
							+ " have not ended yet.", this.concurrentRetryAfter);
				}
			}
			while (!usage.live.compareAndSet(live, live + 1));
		}
		else {
			usage.live.incrementAndGet();
		}
		RateLimiter starts = usage.starts;
		if (starts != null && !starts.acquirePermission()) {
			usage.live.decrementAndGet();
			long wait = ((AtomicRateLimiter) starts).getDetailedMetrics().getNanosToWait();
			throw new QuotaExceeded("This key may start at most " + usage.quota.startsPerMinute()
					+ " streams a minute.", Duration.ofNanos(Math.max(wait, 0)));
		}
		return true;
	}

	/** Gives back the place a stream of {@code owner} took. */
	void release(String owner) {
		Usage usage = this.usage.get(owner);
		if (usage != null) {
			usage.live.decrementAndGet();
		}
	}

	/** Streams of {@code owner} not yet ended, as counted here (for tests and the auditor). */
	int live(String owner) {
		Usage usage = this.usage.get(owner);
		return (usage != null) ? usage.live.get() : 0;
	}

}
