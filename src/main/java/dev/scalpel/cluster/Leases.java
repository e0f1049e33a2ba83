package dev.scalpel.cluster;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.function.Supplier;

import io.lettuce.core.Range;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.SetArgs;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.reactive.RedisReactiveCommands;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.jspecify.annotations.Nullable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

import dev.scalpel.stream.SharedStreams.Snapshot;
import dev.scalpel.stream.StreamEvent;
import dev.scalpel.stream.StreamView;

import static dev.scalpel.cluster.RedisKeys.KEY;

/**
 * Replicas' leases (others → owner: owner lost): this replica renews its own, ends the live streams of
 * any replica whose lease lapsed ({@code failed/owner_lost}), and writes its streams again into a
 * Redis that lost them (its lease found gone although renewed in time).
 */
final class Leases {

	private static final Log logger = LogFactory.getLog(Leases.class);

	private final RedisKeys keys;

	private final RedisScripts scripts;

	private final ClusterProperties properties;

	private final String replicaId;

	private final Duration retention;

	private final int maxEvents;

	private final RemoteStreams remote;

	private final Scheduler timers;

	private volatile @Nullable Consumer<String> lost;

	private volatile Supplier<List<Snapshot>> snapshots = List::of;

	/** Whether this replica's lease was written since it started (a lease found missing then: data lost). */
	private volatile boolean leased;

	private volatile boolean available;

	/** When the lease was last renewed ({@link System#nanoTime()}). */
	private volatile long renewedNanos;

	Leases(RedisKeys keys, RedisScripts scripts, ClusterProperties properties, String replicaId, Duration retention,
			int maxEvents, RemoteStreams remote, Scheduler timers) {
		this.keys = keys;
		this.scripts = scripts;
		this.properties = properties;
		this.replicaId = replicaId;
		this.retention = retention;
		this.maxEvents = maxEvents;
		this.remote = remote;
		this.timers = timers;
	}

	void onLost(Consumer<String> lost) {
		this.lost = lost;
	}

	void onRewrite(Supplier<List<Snapshot>> streams) {
		this.snapshots = streams;
	}

	/** The first lease, before any stream is taken. */
	void take(StatefulRedisConnection<String, String> connection) {
		connection.sync().set(this.keys.lease(this.replicaId), "1", SetArgs.Builder.px(this.properties.leaseTime().toMillis()));
		this.leased = true;
		connection.sync().sadd(this.keys.replicas(), this.replicaId);
		this.renewedNanos = System.nanoTime();
		this.available = true;
	}

	/** A clean stop hands nothing over: its streams have ended (drained) already. */
	void withdraw(StatefulRedisConnection<String, String> connection) {
		this.available = false;
		connection.sync().srem(this.keys.replicas(), this.replicaId);
		connection.sync().del(this.keys.lease(this.replicaId));
	}

	/**
	 * Renewed within two thirds of the lease time: one slow renewal does not take the replica out of
	 * service, two missed ones do, well before the lease lapses.
	 */
	boolean current() {
		return this.available && System.nanoTime() - this.renewedNanos < this.properties.leaseTime().toNanos() * 2 / 3;
	}

	void stop() {
		this.available = false;
	}

	void renewAndTakeOver(RedisReactiveCommands<String, String> redis) {
		Duration every = this.properties.leaseTime().dividedBy(2);
		redis.setGet(this.keys.lease(this.replicaId), "1", SetArgs.Builder.px(this.properties.leaseTime().toMillis()))
			.map(Optional::of)
			.defaultIfEmpty(Optional.empty())
			.timeout(every, this.timers)
			.doOnNext(renewed -> this.renewedNanos = System.nanoTime())
			.flatMap(previous -> {
				boolean lost = previous.isEmpty() && this.leased;
				this.leased = true;
				// The lease is gone although it was renewed in time: Redis lost its data (a restart).
				return lost ? rewrite(redis) : Mono.empty();
			})
			.then(redis.sadd(this.keys.replicas(), this.replicaId).timeout(every, this.timers))
			// The listing index forgets streams far older than any that can still be retained.
			.then(redis.zremrangebyscore(this.keys.index(), Range.create(Double.NEGATIVE_INFINITY,
					(double) (System.currentTimeMillis() - this.retention.plusDays(1).toMillis()))))
			.doOnSuccess(ignored -> {
				if (!this.available) {
					logger.info("Redis reachable; replica " + this.replicaId + " takes new streams again");
				}
				this.available = true;
			})
			.thenMany(redis.smembers(this.keys.replicas()))
			.filter(replica -> !replica.equals(this.replicaId))
			.concatMap(replica -> redis.exists(this.keys.lease(replica))
				.filter(alive -> alive == 0)
				.flatMapMany(gone -> takeOver(redis, replica)))
			.onErrorResume(failure -> {
				if (this.available) {
					logger.warn("Redis unreachable; replica " + this.replicaId + " refuses new streams until it is back ("
							+ failure + ")");
				}
				this.available = false;
				return Flux.empty();
			})
			.subscribe();
	}

	/** Writes every stream this replica holds again, into a Redis that lost them. */
	private Mono<Void> rewrite(RedisReactiveCommands<String, String> redis) {
		List<Snapshot> streams = this.snapshots.get();
		logger.warn("Redis lost its data; replica " + this.replicaId + " writes its " + streams.size() + " streams again");
		return Flux.fromIterable(streams).concatMap(stream -> {
			List<String> args = new ArrayList<>(List.of(stream.view(),
					Long.toString(stream.events().isEmpty() ? 0 : stream.events().get(stream.events().size() - 1).id()),
					Integer.toString(stream.outputTokens()), stream.terminal() ? "1" : "0",
					Long.toString(this.retention.toMillis()), stream.id(), Integer.toString(this.maxEvents)));
			for (StreamEvent event : stream.events()) {
				args.add(Long.toString(event.id()));
				args.add(event.type());
				args.add(event.data());
			}
			return redis.hset(this.keys.hash(stream.id()), KEY, stream.owner())
				.then(redis.zadd(this.keys.index(), (double) stream.createdAt().toEpochMilli(), stream.id()))
				.then(redis.zadd(this.keys.keyIndex(stream.owner()), (double) stream.createdAt().toEpochMilli(), stream.id()))
				.then(redis.<Long>eval(this.scripts.rewrite().getScriptAsString(), ScriptOutputType.INTEGER,
					new String[] { this.keys.hash(stream.id()), this.keys.events(stream.id()),
							this.keys.owned(this.replicaId), this.replicaId },
					args.toArray(String[]::new))
				.next())
				.doOnNext(written -> {
					Consumer<String> lost = this.lost;
					if (written == 0 && lost != null) {
						// Ended by another replica while this one was away: the first terminal state stands.
						lost.accept(stream.id());
					}
				});
		}).then();
	}

	/** Ends the live streams of a replica whose lease lapsed, then forgets the replica. */
	private Flux<StreamView> takeOver(RedisReactiveCommands<String, String> redis, String replica) {
		String error = "{\"type\":\"owner_lost\",\"message\":\"the replica running this stream (" + replica
				+ ") stopped without ending it\"}";
		return redis.smembers(this.keys.owned(replica))
			.concatMap(id -> this.remote.recordTerminal(redis, id, "failed", "owner_lost", error))
			.doOnNext(view -> logger.warn("Stream " + view.id() + " of lost replica " + replica + " ended failed/owner_lost"))
			.concatWith(redis.srem(this.keys.replicas(), replica).then(redis.del(this.keys.owned(replica))).then(Mono.empty()));
	}

}
