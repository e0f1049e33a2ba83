package dev.scalpel.cluster;

import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

import io.lettuce.core.Range;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.XAddArgs;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.FastThreadLocal;
import io.netty.util.internal.ThreadExecutorMap;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.jspecify.annotations.Nullable;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

import dev.scalpel.stream.ClusterUnavailable;
import dev.scalpel.stream.EventType;
import dev.scalpel.stream.StreamEvent;

import static dev.scalpel.cluster.RedisKeys.ENTRY_DATA;
import static dev.scalpel.cluster.RedisKeys.ENTRY_TOKENS;
import static dev.scalpel.cluster.RedisKeys.ENTRY_TYPE;
import static dev.scalpel.cluster.RedisKeys.KEY;
import static dev.scalpel.cluster.RedisKeys.LAST;
import static dev.scalpel.cluster.RedisKeys.OWNER;
import static dev.scalpel.cluster.RedisKeys.TOKENS;
import static dev.scalpel.cluster.RedisKeys.VIEW;

/**
 * The owner's writes of its streams (owner → store): the creation, each event to the stream's Redis
 * Stream and channel, the status when it changes, the terminal event through the owner's terminal
 * script.
 *
 * <p>Writes are pipelined per event-loop turn: an append queues its commands, and the first append of
 * a turn schedules one flush at the end of that turn (as Netty's {@code FlushConsolidationHandler}
 * does), so the tokens of one upstream read reach Redis in one write and a lone token waits for no
 * timer. Off an event loop, a write is flushed at once. Lettuce's own pipelining (auto-flush off)
 * is not safe for writers on several threads, so one thread at a time sends the queue, for all of
 * them (a drain loop, which never waits for a lock on an event loop), in the order the streams
 * appended (each under its own lock): a stream's writes stay in order across event loops.
 */
final class OwnerJournal {

	private static final Log logger = LogFactory.getLog(OwnerJournal.class);

	private final RedisKeys keys;

	private final RedisScripts scripts;

	private final String replicaId;

	private final Duration retention;

	private final int maxEvents;

	private final Queue<Consumer<RedisAsyncCommands<String, String>>> pending = new ConcurrentLinkedQueue<>();

	/** Sends in progress or asked for: one thread sends at a time, for every thread (a drain loop). */
	private final AtomicInteger sending = new AtomicInteger();

	/** Whether this event loop has a flush scheduled at the end of its turn. */
	private final FastThreadLocal<Turn> turns = new FastThreadLocal<>() {
		@Override
		protected Turn initialValue() {
			return new Turn();
		}
	};

	/** The status write of each stream just created, until its start is answered ({@link #written}). */
	private final Map<String, CompletableFuture<Void>> creations = new ConcurrentHashMap<>();

	private volatile @Nullable StatefulRedisConnection<String, String> connection;

	OwnerJournal(RedisKeys keys, RedisScripts scripts, String replicaId, Duration retention, int maxEvents) {
		this.keys = keys;
		this.scripts = scripts;
		this.replicaId = replicaId;
		this.retention = retention;
		this.maxEvents = maxEvents;
	}

	/** Writes on this connection from now on; it is this journal's alone (auto-flush is turned off). */
	void open(StatefulRedisConnection<String, String> connection) {
		connection.setAutoFlushCommands(false);
		this.connection = connection;
	}

	/** Who owns a stream being created, and its place in the listings, before its first event. */
	void created(String streamId, String owner, Instant createdAt) {
		long createdMillis = createdAt.toEpochMilli();
		enqueue(redis -> {
			redis.hset(this.keys.hash(streamId), KEY, owner);
			// The listing indexes; the key's forgets here streams far older than any still retained.
			redis.zadd(this.keys.index(), (double) createdMillis, streamId);
			redis.zadd(this.keys.keyIndex(owner), (double) createdMillis, streamId);
			redis.zremrangebyscore(this.keys.keyIndex(owner), Range.create(Double.NEGATIVE_INFINITY,
					(double) (createdMillis - this.retention.plusDays(1).toMillis())));
		});
	}

	/** An event the owner appended, with the status object when it changed with it. */
	void appended(String streamId, StreamEvent event, @Nullable String view, int outputTokens) {
		if (event.terminal()) {
			CompletableFuture<Void> creation = this.creations.remove(streamId);
			if (creation != null) {
				creation.complete(null);
			}
			String data = (view != null) ? view : event.data();
			enqueue(redis -> redis.eval(this.scripts.ownerTerminal().getScriptAsString(), ScriptOutputType.INTEGER,
					new String[] { this.keys.hash(streamId), this.keys.events(streamId), this.keys.owned(this.replicaId) },
					Long.toString(event.id()), event.type(), event.data(), data, Integer.toString(outputTokens),
					Long.toString(this.retention.toMillis()), Integer.toString(this.maxEvents), streamId,
					this.keys.channel(streamId)));
			return;
		}
		boolean creation = event.is(EventType.CREATED);
		CompletableFuture<Void> written = (creation && view != null) ? new CompletableFuture<>() : null;
		if (written != null) {
			this.creations.put(streamId, written);
		}
		enqueue(redis -> {
			// The entry (with the output token count) and the message; the hash changes with the status
			// only, and readers take the newest entry for the last id and the count.
			redis.xadd(this.keys.events(streamId),
					new XAddArgs().id(event.id() + "-0").maxlen(this.maxEvents).approximateTrimming(),
					Map.of(ENTRY_TYPE, event.type(), ENTRY_DATA, event.data(), ENTRY_TOKENS, Integer.toString(outputTokens)));
			if (view != null) {
				Map<String, String> fields = new LinkedHashMap<>();
				fields.put(LAST, Long.toString(event.id()));
				fields.put(TOKENS, Integer.toString(outputTokens));
				fields.put(VIEW, view);
				fields.put(OWNER, this.replicaId);
				redis.hset(this.keys.hash(streamId), fields).whenComplete((count, failure) -> {
					if (written != null) {
						if (failure != null) {
							written.completeExceptionally(failure);
						}
						else {
							written.complete(null);
						}
					}
				});
			}
			if (creation) {
				redis.sadd(this.keys.owned(this.replicaId), streamId);
			}
			redis.publish(this.keys.channel(streamId), RemoteStreams.message(event));
		});
	}

	/**
	 * Completes once the creation of a stream is in Redis, so that other replicas find it; fails with
	 * {@link ClusterUnavailable} when Redis does not confirm it within {@code timeout}.
	 */
	Mono<Void> written(String streamId, Duration timeout, Scheduler timers) {
		CompletableFuture<Void> creation = this.creations.remove(streamId);
		if (creation == null) {
			return Mono.empty();
		}
		return Mono.fromFuture(creation, true).timeout(timeout, timers).onErrorMap(failure -> new ClusterUnavailable());
	}

	private void enqueue(Consumer<RedisAsyncCommands<String, String>> write) {
		if (this.connection == null) {
			return;
		}
		this.pending.offer(write);
		EventExecutor loop = ThreadExecutorMap.currentExecutor();
		if (loop == null) {
			flush();
			return;
		}
		Turn turn = this.turns.get();
		if (!turn.scheduled) {
			turn.scheduled = true;
			loop.execute(turn);
		}
	}

	/**
	 * Sends what is queued, in one write. Also called by the lease timer: writes queued while Redis
	 * was unreachable stay in Lettuce's buffer until a flush finds the connection up again.
	 */
	void flush() {
		StatefulRedisConnection<String, String> connection = this.connection;
		if (connection == null) {
			return;
		}
		if (this.sending.getAndIncrement() != 0) {
			// Another thread is sending: it sends this thread's writes too before it stops.
			return;
		}
		int asked = 1;
		do {
			RedisAsyncCommands<String, String> redis = connection.async();
			Consumer<RedisAsyncCommands<String, String>> write;
			while ((write = this.pending.poll()) != null) {
				try {
					write.accept(redis);
				}
				catch (RuntimeException ex) {
					// Called at the end of an event loop's turn: a failure to hand a write to Lettuce (a
					// client shut down) must not break the loop. The status in Redis then lags; a
					// restart of Redis or of this replica resolves it.
					logger.warn("Could not write to Redis: " + ex);
				}
			}
			connection.flushCommands();
			asked = this.sending.addAndGet(-asked);
		}
		while (asked != 0);
	}

	/** Sends what is queued and waits (bounded) until Redis has taken it; then writes nothing more. */
	void close(Duration wait) {
		StatefulRedisConnection<String, String> connection = this.connection;
		if (connection == null) {
			return;
		}
		flush();
		this.connection = null;
		if (connection.isOpen()) {
			try {
				connection.setAutoFlushCommands(true);
				// Replies come in order: once this one is back, every write before it has been taken.
				connection.async().ping().get(wait.toMillis(), TimeUnit.MILLISECONDS);
			}
			catch (Exception ex) {
				logger.debug("Redis did not confirm the last writes of replica " + this.replicaId, ex);
			}
		}
		connection.close();
	}

	/** A flush at the end of one event loop's turn. */
	private final class Turn implements Runnable {

		boolean scheduled;

		@Override
		public void run() {
			this.scheduled = false;
			flush();
		}

	}

}
