package dev.scalpel.support;

import reactor.blockhound.BlockHound;
import reactor.blockhound.integration.BlockHoundIntegration;

/**
 * Where BlockHound may let a thread wait on a Reactor thread: two libraries' own critical sections of
 * a few instructions, which park or yield only when two threads meet in them. Anything else that
 * blocks still fails the build.
 * <ul>
 * <li>Resilience4j's circuit-breaker metrics record each outcome, and read their snapshot, under a
 * {@code ReentrantLock};
 * <li>HdrHistogram (Micrometer's percentiles) yields while it resizes a histogram for a value far
 * outside its range so far.
 * </ul>
 */
public final class BenignLibraryLocks implements BlockHoundIntegration {

	@Override
	public void applyTo(BlockHound.Builder builder) {
		builder.allowBlockingCallsInside("io.github.resilience4j.core.metrics.FixedSizeSlidingWindowMetrics", "record");
		builder.allowBlockingCallsInside("io.github.resilience4j.core.metrics.FixedSizeSlidingWindowMetrics", "getSnapshot");
		builder.allowBlockingCallsInside("org.HdrHistogram.WriterReaderPhaser", "flipPhase");
	}

}
