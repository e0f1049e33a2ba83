package dev.scalpel.support;

import reactor.blockhound.BlockHound;
import reactor.blockhound.integration.BlockHoundIntegration;

/**
 * Where BlockHound may let a thread wait on a Reactor thread: libraries' own critical sections of a
 * few instructions, which park or yield only when two threads meet in them. Anything else that
 * blocks still fails the build.
 * <ul>
 * <li>Resilience4j's circuit-breaker metrics record each outcome, and read their snapshot, under a
 * {@code ReentrantLock};
 * <li>HdrHistogram (Micrometer's percentiles) yields while it resizes a histogram for a value far
 * outside its range so far;
 * <li>Jackson builds a type's deserializer once, under a lock, the first time the type is read: two
 * requests of a new type arriving at once on two event loops meet there (seen with many first requests
 * on a fresh instance);
 * <li>Lettuce (redis mode) counts the writers of a connection under a lock for a few instructions on
 * every command it sends (redis/lettuce#2510): the owner's writes from two event loops meet there;
 * <li>the JDK's scheduled executor (under Reactor's parallel scheduler) adds and removes a timer
 * under its queue's lock, e.g. a heartbeat timer scheduled or disposed on an event loop while another
 * does the same. Left to BlockHound, the error it throws from inside the lock's wait leaves the lock's
 * queue broken, and every later caller waits forever: the hang once seen in {@code SlotPoolRaceTest};
 * <li>Netty's adaptive buffer allocator takes a {@code StampedLock} while it adds a magazine under
 * contention; thrown from there, BlockHound's error broke a Lettuce connection's reading mid-reply
 * (replies then went to the wrong commands), which no real run would do;
 * <li>Logback's asynchronous appender (in front of every log line, {@code AsyncLogging}) reads its
 * queue's free room and offers the line under the queue's lock, which its writer thread takes for as
 * long as it takes a batch of lines out; it never waits for room ({@code neverBlock}). The room is read
 * by Logback's own {@code append} (for its discarding threshold) and by Scalpel's counting subclass,
 * whose {@code append} holds both.
 * </ul>
 * And one test blocks event loops on purpose: {@code ClosedBeforeReadEndToEndTest} holds the server's
 * loops for a moment, so that connections made meanwhile are read with their close.
 */
public final class BenignLibraryLocks implements BlockHoundIntegration {

	@Override
	public void applyTo(BlockHound.Builder builder) {
		builder.allowBlockingCallsInside("io.github.resilience4j.core.metrics.FixedSizeSlidingWindowMetrics", "record");
		builder.allowBlockingCallsInside("io.github.resilience4j.core.metrics.FixedSizeSlidingWindowMetrics", "getSnapshot");
		builder.allowBlockingCallsInside("org.HdrHistogram.WriterReaderPhaser", "flipPhase");
		builder.allowBlockingCallsInside("tools.jackson.databind.deser.DeserializerCache", "_createAndCacheValueDeserializer");
		builder.allowBlockingCallsInside("io.lettuce.core.protocol.SharedLock", "incrementWriters");
		builder.allowBlockingCallsInside("io.lettuce.core.protocol.SharedLock", "decrementWriters");
		builder.allowBlockingCallsInside("java.util.concurrent.ScheduledThreadPoolExecutor$DelayedWorkQueue", "remove");
		builder.allowBlockingCallsInside("java.util.concurrent.ScheduledThreadPoolExecutor$DelayedWorkQueue", "offer");
		builder.allowBlockingCallsInside("io.netty.buffer.AdaptivePoolingAllocator$MagazineGroup", "tryExpandMagazines");
		builder.allowBlockingCallsInside("io.netty.buffer.AdaptivePoolingAllocator$Magazine", "free");
		builder.allowBlockingCallsInside("dev.scalpel.observe.AsyncLogging$CountingAsyncAppender", "append");
		builder.allowBlockingCallsInside("dev.scalpel.stream.ClosedBeforeReadEndToEndTest$HeldLoops", "holdLoop");
	}

}
