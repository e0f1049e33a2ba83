package dev.scalpel.cluster;

import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArraySet;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.Supplier;

import io.lettuce.core.ClientOptions;
import io.lettuce.core.Limit;
import io.lettuce.core.Range;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.SetArgs;
import io.lettuce.core.StreamMessage;
import io.lettuce.core.XAddArgs;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.api.reactive.RedisReactiveCommands;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.jspecify.annotations.Nullable;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Schedulers;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

import org.springframework.context.SmartLifecycle;
import org.springframework.data.redis.connection.RedisStandaloneConfiguration;
import org.springframework.data.redis.connection.lettuce.LettuceConnectionFactory;

import dev.scalpel.stream.Caller;
import dev.scalpel.stream.ClusterUnavailable;
import dev.scalpel.stream.EventType;
import dev.scalpel.stream.EventsExpired;
import dev.scalpel.stream.InvalidRequest;
import dev.scalpel.stream.SharedStreams;
import dev.scalpel.stream.StreamEvent;
import dev.scalpel.stream.StreamNotFound;
import dev.scalpel.stream.StreamPage;
import dev.scalpel.stream.StreamStatus;
import dev.scalpel.stream.StreamView;

/**
 * Redis mode. The owner of a stream writes what it appends: each event to a Redis Stream
 * ({@code events:<id>}, entry id = event id, trimmed to {@code max-events}) and to a pub/sub channel,
 * and the status to a hash ({@code stream:<id>}: the status object, the last event id, the output
 * tokens, the owner replica, and the API key the stream belongs to, {@code key}, written before the
 * first event so that whoever finds the stream finds whose it is). The terminal event goes through a Lua script that writes it only if no terminal
 * state is recorded yet, so across replicas the first terminal transition wins; from then on both keys
 * expire after the retention.
 *
 * <p>Another replica reads the hash for the status, replays the Redis Stream and follows the channel
 * for events, and sends a cancel to the owner's channel ({@code cancel:<replica>}); the owner ends the
 * stream as a cancel of its own (slot, upstream call, listeners). If the owner does not end it within
 * {@code cancel-timeout}, or its lease has lapsed, the cancelling replica records the terminal state
 * itself with the same script. Each replica renews a lease ({@code replica:<id>}); the live streams
 * ({@code owned:<replica>}) of one whose lease lapsed are ended {@code failed/owner_lost} by any live
 * replica.
 *
 * <p>Lettuce rather than Spring's template: the owner's writes are fire-and-forget commands on one
 * connection, which keeps them in the order the stream appended them, with no reply awaited on the
 * token path.
 */
public final class RedisSharedStreams implements SharedStreams, SmartLifecycle {

	private static final Log logger = LogFactory.getLog(RedisSharedStreams.class);

	private static final DateTimeFormatter TIMESTAMP = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")
		.withZone(ZoneOffset.UTC);

	/** The owner's terminal event: written only while no terminal state is recorded. */
	private static final String OWNER_TERMINAL = """
			if redis.call('HEXISTS', KEYS[1], 'final') == 1 then return 0 end
			local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
			if tonumber(ARGV[1]) > last then
			  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], ARGV[1] .. '-0', 't', ARGV[2], 'd', ARGV[3])
			end
			redis.call('HSET', KEYS[1], 'last', ARGV[1], 'tokens', ARGV[5], 'view', ARGV[4], 'final', '1')
			redis.call('SREM', KEYS[3], ARGV[8])
			redis.call('PEXPIRE', KEYS[1], ARGV[6])
			redis.call('PEXPIRE', KEYS[2], ARGV[6])
			redis.call('PUBLISH', ARGV[9], ARGV[1] .. '\\n' .. ARGV[2] .. '\\n' .. ARGV[3])
			return 1
			""";

	/**
	 * A terminal state recorded by another replica than the owner (a cancel the owner did not carry out,
	 * or a lapsed owner): the status object is rewritten here, the terminal event appended after the
	 * last one. Returns the terminal status object, the one already recorded if there was one, or
	 * nothing for an unknown stream.
	 */
	private static final String REMOTE_TERMINAL = """
			local json = redis.call('HGET', KEYS[1], 'view')
			if not json then return false end
			if redis.call('HEXISTS', KEYS[1], 'final') == 1 then return json end
			local view = cjson.decode(json)
			local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
			local tokens = redis.call('HGET', KEYS[1], 'tokens')
			local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
			if top[1] then
			  local topId = tonumber(string.match(top[1][1], '^(%d+)'))
			  if topId > last then last = topId end
			  local fields = top[1][2]
			  for i = 1, #fields, 2 do if fields[i] == 'n' then tokens = fields[i + 1] end end
			end
			local id = last + 1
			view['status'] = ARGV[1]
			view['finish_reason'] = ARGV[2]
			view['ended_at'] = ARGV[3]
			if ARGV[1] == 'cancelled' then view['cancelled_at'] = ARGV[3] end
			if ARGV[4] ~= '' then view['error'] = cjson.decode(ARGV[4]) end
			view['queue_position'] = cjson.null
			view['last_event_id'] = id
			if tokens then view['usage']['output_tokens'] = tonumber(tokens) end
			json = cjson.encode(view)
			redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], id .. '-0', 't', ARGV[7], 'd', json)
			redis.call('HSET', KEYS[1], 'last', id, 'view', json, 'final', '1')
			redis.call('SREM', KEYS[3], ARGV[8])
			redis.call('PEXPIRE', KEYS[1], ARGV[5])
			redis.call('PEXPIRE', KEYS[2], ARGV[5])
			redis.call('PUBLISH', ARGV[9], id .. '\\n' .. ARGV[7] .. '\\n' .. json)
			return json
			""";

	/**
	 * The owner writes one of its streams again (Redis came back empty): the retained events in order,
	 * then the status. ARGV: view, last, tokens, terminal, retention, id, maxlen, then id/type/data for
	 * each event.
	 */
	private static final String REWRITE = """
			if ARGV[4] == '0' and redis.call('HEXISTS', KEYS[1], 'final') == 1 then return 0 end
			redis.call('DEL', KEYS[2])
			for i = 8, #ARGV, 3 do
			  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], ARGV[i] .. '-0', 't', ARGV[i + 1], 'd', ARGV[i + 2])
			end
			redis.call('HSET', KEYS[1], 'view', ARGV[1], 'last', ARGV[2], 'tokens', ARGV[3], 'owner', KEYS[4])
			if ARGV[4] == '1' then
			  redis.call('HSET', KEYS[1], 'final', '1')
			  redis.call('SREM', KEYS[3], ARGV[6])
			  redis.call('PEXPIRE', KEYS[1], ARGV[5])
			  redis.call('PEXPIRE', KEYS[2], ARGV[5])
			else
			  redis.call('SADD', KEYS[3], ARGV[6])
			end
			return 1
			""";

	/** Streams read from the index at a time while listing. */
	private static final int LIST_BATCH = 100;

	private final LettuceConnectionFactory factory;

	private final ClusterProperties properties;

	private final JsonMapper json;

	private final Duration retention;

	private final int maxEvents;

	private final String replicaId;

	private final String prefix;

	private final Map<String, Followed> followers = new ConcurrentHashMap<>();

	/** The status write of each stream just created, until its start is answered ({@link #written}). */
	private final Map<String, RedisFuture<Long>> creations = new ConcurrentHashMap<>();

	private volatile @Nullable Consumer<String> cancels;

	private volatile @Nullable Consumer<String> lost;

	private volatile Supplier<List<Snapshot>> snapshots = List::of;

	/** Whether this replica's lease was written since it started (a lease found missing then: data lost). */
	private volatile boolean leased;

	private volatile boolean available;

	/** When the lease was last renewed ({@link System#nanoTime()}). */
	private volatile long renewedNanos;

	private volatile boolean running;

	private @Nullable RedisClient client;

	private @Nullable StatefulRedisConnection<String, String> connection;

	private @Nullable StatefulRedisPubSubConnection<String, String> pubsub;

	private @Nullable Disposable leases;

	/**
	 * The lease renewals' and time-outs' own thread, a plain JDK one: never Reactor's shared schedulers,
	 * which a test's virtual time (or anything else replacing Reactor's scheduler factory) would stop.
	 */
	private final java.util.concurrent.ScheduledExecutorService timerThread = java.util.concurrent.Executors
		.newSingleThreadScheduledExecutor(runnable -> {
			Thread thread = new Thread(runnable, "scalpel-cluster-timer");
			thread.setDaemon(true);
			return thread;
		});

	private final reactor.core.scheduler.Scheduler timers = Schedulers.fromExecutorService(this.timerThread,
			"scalpel-cluster-timer");

	RedisSharedStreams(LettuceConnectionFactory factory, ClusterProperties properties, JsonMapper json,
			Duration retention, int maxEvents) {
		this.factory = factory;
		this.properties = properties;
		this.json = json;
		this.retention = retention;
		this.maxEvents = maxEvents;
		this.replicaId = (properties.replicaId() != null && !properties.replicaId().isBlank())
				? properties.replicaId() : hostName() + "-" + UUID.randomUUID().toString().substring(0, 8);
		this.prefix = properties.keyPrefix();
	}

	String replicaId() {
		return this.replicaId;
	}

	// --- the owner's side

	@Override
	public boolean wantsViews() {
		return true;
	}

	@Override
	public void created(String streamId, String owner, Instant createdAt) {
		RedisAsyncCommands<String, String> redis = commands();
		if (redis == null) {
			return;
		}
		try {
			// Before the creation event, on the same connection: whoever finds the stream finds its owner.
			redis.hset(hash(streamId), "key", owner);
			index(redis, streamId, owner, createdAt.toEpochMilli());
		}
		catch (RuntimeException ex) {
			logger.warn("Could not write the creation of stream " + streamId + " to Redis: " + ex);
		}
	}

	/**
	 * Adds a stream to the listing indexes by creation time: every replica's streams, and its key's. A
	 * stream whose keys expired is dropped from them by the listing that finds it gone; the key's index
	 * forgets here, the full one on lease renewal, streams far older than any that can be retained.
	 */
	private void index(RedisAsyncCommands<String, String> redis, String streamId, String owner, long createdMillis) {
		redis.zadd(this.prefix + "streams", (double) createdMillis, streamId);
		redis.zadd(keyIndex(owner), (double) createdMillis, streamId);
		redis.zremrangebyscore(keyIndex(owner), Range.create(Double.NEGATIVE_INFINITY,
				(double) (createdMillis - this.retention.plusDays(1).toMillis())));
	}

	@Override
	public void appended(String streamId, StreamEvent event, @Nullable String view, int outputTokens) {
		RedisAsyncCommands<String, String> redis = commands();
		if (redis == null) {
			return;
		}
		try {
			write(redis, streamId, event, view, outputTokens);
		}
		catch (RuntimeException ex) {
			// Called inside the stream's terminal transition and appends: a failure to hand a write to
			// Lettuce (a client shut down) must not break the stream here. The status in Redis then
			// lags; a restart of Redis or of this replica resolves it.
			logger.warn("Could not write event " + event.id() + " of stream " + streamId + " to Redis: " + ex);
		}
	}

	private void write(RedisAsyncCommands<String, String> redis, String streamId, StreamEvent event,
			@Nullable String view, int outputTokens) {
		if (event.terminal()) {
			this.creations.remove(streamId);
			redis.eval(OWNER_TERMINAL, ScriptOutputType.INTEGER,
					new String[] { hash(streamId), events(streamId), owned(this.replicaId) }, Long.toString(event.id()),
					event.type(), event.data(), (view != null) ? view : event.data(), Integer.toString(outputTokens),
					Long.toString(this.retention.toMillis()), Integer.toString(this.maxEvents), streamId,
					channel(streamId));
			return;
		}
		// Two commands per token: the entry (with the output token count, n) and the message. The hash
		// changes with the status only; readers take the newest entry for the last id and the count.
		redis.xadd(events(streamId),
				new XAddArgs().id(event.id() + "-0").maxlen(this.maxEvents).approximateTrimming(),
				Map.of("t", event.type(), "d", event.data(), "n", Integer.toString(outputTokens)));
		if (view != null) {
			Map<String, String> fields = new LinkedHashMap<>();
			fields.put("last", Long.toString(event.id()));
			fields.put("tokens", Integer.toString(outputTokens));
			fields.put("view", view);
			fields.put("owner", this.replicaId);
			RedisFuture<Long> written = redis.hset(hash(streamId), fields);
			if (event.is(EventType.CREATED)) {
				this.creations.put(streamId, written);
			}
		}
		if (event.is(EventType.CREATED)) {
			redis.sadd(owned(this.replicaId), streamId);
		}
		redis.publish(channel(streamId), message(event));
	}

	@Override
	public Mono<Void> written(String streamId) {
		RedisFuture<Long> creation = this.creations.remove(streamId);
		if (creation == null) {
			return Mono.empty();
		}
		return Mono.fromCompletionStage(creation)
			.timeout(this.properties.leaseTime().dividedBy(2), this.timers)
			.onErrorMap(failure -> new ClusterUnavailable())
			.then();
	}

	@Override
	public void onCancelRequest(Consumer<String> cancel) {
		this.cancels = cancel;
	}

	@Override
	public void onLost(Consumer<String> lost) {
		this.lost = lost;
	}

	@Override
	public void onRewrite(Supplier<List<Snapshot>> streams) {
		this.snapshots = streams;
	}

	/**
	 * Connected, and the lease renewed within two thirds of the lease time: one slow renewal does not
	 * take the replica out of service, two missed ones do, well before the lease lapses.
	 */
	@Override
	public boolean available() {
		StatefulRedisConnection<String, String> connection = this.connection;
		return this.available && connection != null && connection.isOpen()
				&& System.nanoTime() - this.renewedNanos < this.properties.leaseTime().toNanos() * 2 / 3;
	}

	// --- another replica's side

	@Override
	public Mono<StreamView> status(String id) {
		return reactive().flatMap(redis -> redis.hmget(hash(id), "view", "final").collectList().flatMap(values -> {
			String view = values.get(0).getValueOrElse(null);
			if (view == null) {
				return Mono.empty();
			}
			if (values.get(1).hasValue()) {
				return Mono.just(view(view, null, null));
			}
			return newest(redis, id).map(newest -> view(view, Long.toString(eventId(newest)), newest.getBody().get("n")))
				.defaultIfEmpty(view(view, null, null));
		}));
	}

	@Override
	public Mono<String> owner(String id) {
		return reactive().flatMap(redis -> redis.hmget(hash(id), "view", "key").collectList().flatMap(values -> {
			if (!values.get(0).hasValue()) {
				return Mono.empty();
			}
			// Written before keys were: the streams of an open service, whose one owner this is.
			return Mono.just(values.get(1).getValueOrElse(Caller.OPEN.owner()));
		}));
	}

	@Override
	public Mono<StreamPage> list(@Nullable StreamStatus status, int limit, @Nullable String after,
			@Nullable String owner) {
		String index = (owner != null) ? keyIndex(owner) : this.prefix + "streams";
		return reactive().flatMap(redis -> {
			Mono<Double> from = (after == null) ? Mono.just(Double.MAX_VALUE)
					: redis.zscore(index, after)
						.switchIfEmpty(Mono.error(() -> InvalidRequest.invalid("after",
								"names no stream that is still retained")));
			return from.flatMap(score -> {
				// Newest first: by creation time, then by id, both descending (as ZREVRANGE orders them).
				// Pages of the index until one comes back empty. (hide(): a fused range would be drained
				// element by element when the listing has enough and cancels.)
				Flux<String> ids = Flux.range(0, Integer.MAX_VALUE)
					.hide()
					.concatMap(batch -> redis
						.zrevrangebyscoreWithScores(index, Range.create(0d, score),
								Limit.create((long) batch * LIST_BATCH, LIST_BATCH))
						.collectList(), 1)
					.takeWhile(page -> !page.isEmpty())
					.concatMapIterable(page -> page)
					.filter(entry -> after == null || entry.getScore() < score || entry.getValue().compareTo(after) < 0)
					.map(entry -> entry.getValue());
				return ids.flatMapSequential(
						id -> status(id).switchIfEmpty(Mono.defer(() -> redis.zrem(index, id).then(Mono.empty()))), 32)
					.filter(view -> status == null || status.wireName().equals(view.status()))
					.take(limit + 1L)
					.collectList()
					.map(views -> StreamPage.of(views.subList(0, Math.min(limit, views.size())), views.size() > limit));
			});
		});
	}

	/** The newest entry of a stream's Redis Stream (its id is the last event id; n the output tokens). */
	private Mono<StreamMessage<String, String>> newest(RedisReactiveCommands<String, String> redis, String id) {
		return redis.xrevrange(events(id), Range.create("-", "+"), Limit.from(1)).next();
	}

	@Override
	public Mono<StreamView> cancel(String id) {
		return reactive().flatMap(redis -> redis.hmget(hash(id), "view", "owner", "final").collectList().flatMap(values -> {
			String view = values.get(0).getValueOrElse(null);
			if (view == null) {
				return Mono.<StreamView>empty();
			}
			if (values.get(2).hasValue()) {
				return Mono.just(view(view, null, null));
			}
			String owner = values.get(1).getValueOrElse("");
			return redis.exists(lease(owner)).flatMap(alive -> {
				if (alive == 0) {
					return recordTerminal(id, "cancelled", "cancel_requested", null);
				}
				// Ask the owner once this replica follows the stream, and answer when its terminal event
				// (written with the terminal state, in one script) shows the owner did it.
				Sinks.One<Boolean> ended = Sinks.one();
				Disposable following = follow(id, () -> redis.publish(cancelChannel(owner), id)
					.then(redis.hexists(hash(id), "final"))
					.subscribe(already -> {
						if (already) {
							ended.tryEmitValue(true);
						}
					}, ended::tryEmitError))
					.filter(StreamEvent::terminal)
					.next()
					.subscribe(terminal -> ended.tryEmitValue(true), ended::tryEmitError);
				return ended.asMono()
					.then(status(id))
					.timeout(this.properties.cancelTimeout(),
							Mono.defer(() -> recordTerminal(id, "cancelled", "cancel_requested", null)), this.timers)
					.doFinally(signal -> following.dispose());
			});
		}));
	}

	@Override
	public Mono<Flux<StreamEvent>> events(String id, long after) {
		return reactive().flatMap(redis -> redis.hget(hash(id), "view")
			.switchIfEmpty(Mono.error(() -> new StreamNotFound(id)))
			.then(newest(redis, id).map(RedisSharedStreams::eventId).defaultIfEmpty(0L))
			.flatMap(last -> {
				if (after > last) {
					return Mono.error(InvalidRequest.invalid("after", "is beyond the newest event, " + last));
				}
				return redis.xrange(events(id), Range.create("-", "+"), Limit.from(1))
					.next()
					.map(RedisSharedStreams::eventId)
					.defaultIfEmpty(last + 1)
					.flatMap(first -> (after + 1 < first) ? Mono.error(new EventsExpired(after, first))
							: Mono.just(replayThenFollow(redis, id, after)));
			}));
	}


	private Flux<StreamEvent> replayThenFollow(RedisReactiveCommands<String, String> redis, String id, long after) {
		return Flux.defer(() -> {
			AtomicLong emitted = new AtomicLong(after);
			// The replay is read once the channel is subscribed, so that nothing falls between the two.
			Sinks.Empty<Void> subscribed = Sinks.empty();
			Flux<StreamEvent> live = follow(id, subscribed::tryEmitEmpty).replay().autoConnect(0);
			Flux<StreamEvent> replay = subscribed.asMono().thenMany(range(redis, id, after + 1, Long.MAX_VALUE));
			// Pub/sub loses what is published while a connection is down: a periodic read of the
			// Redis Stream catches up, and a gap before a live event is read before that event.
			Duration every = this.properties.leaseTime().dividedBy(3);
			Flux<StreamEvent> polls = Flux.interval(every, every, this.timers)
				.onBackpressureDrop()
				.concatMap(tick -> range(redis, id, emitted.get() + 1, Long.MAX_VALUE).onErrorResume(failure -> Flux.empty()));
			return Flux.concat(replay, Flux.merge(live, polls)).concatMap(event -> {
				long last = emitted.get();
				if (event.id() <= last) {
					return Flux.<StreamEvent>empty();
				}
				Flux<StreamEvent> missing = (event.id() == last + 1) ? Flux.empty()
						: range(redis, id, last + 1, event.id() - 1).onErrorResume(failure -> Flux.empty());
				return missing.concatWith(Mono.just(event));
			}).filter(event -> event.id() > emitted.get()).doOnNext(event -> emitted.set(event.id())).takeUntil(StreamEvent::terminal);
		});
	}

	/** Events {@code from} to {@code to} (inclusive) of the Redis Stream of a stream. */
	private Flux<StreamEvent> range(RedisReactiveCommands<String, String> redis, String id, long from, long to) {
		return redis.xrange(events(id), Range.create(from + "-0", (to == Long.MAX_VALUE) ? "+" : to + "-0"))
			.map(message -> new StreamEvent(eventId(message), message.getBody().get("t"), message.getBody().get("d")));
	}

	/** A channel this replica follows for the streams of others, with the followers it serves. */
	private record Followed(Set<Sinks.Many<StreamEvent>> sinks, Mono<Void> subscribed) {
	}

	/**
	 * Events published for a stream from now on, while subscribed; {@code ready} runs once Redis has
	 * confirmed the channel subscription.
	 */
	private Flux<StreamEvent> follow(String id, Runnable ready) {
		String channel = channel(id);
		return Flux.create(sink -> {
			StatefulRedisPubSubConnection<String, String> pubsub = this.pubsub;
			if (pubsub == null) {
				sink.error(new IllegalStateException("not connected to Redis"));
				return;
			}
			Sinks.Many<StreamEvent> events = Sinks.many().unicast().onBackpressureBuffer();
			Followed followed;
			synchronized (this.followers) {
				followed = this.followers.computeIfAbsent(channel, key -> new Followed(new CopyOnWriteArraySet<>(),
						pubsub.reactive().subscribe(channel).cache()));
				followed.sinks().add(events);
			}
			Disposable forwarding = events.asFlux().subscribe(sink::next, sink::error, sink::complete);
			Disposable subscribing = followed.subscribed().subscribe(null, sink::error, ready);
			sink.onDispose(() -> {
				forwarding.dispose();
				subscribing.dispose();
				synchronized (this.followers) {
					followed.sinks().remove(events);
					if (followed.sinks().isEmpty() && this.followers.remove(channel, followed)) {
						pubsub.async().unsubscribe(channel);
					}
				}
			});
		});
	}

	/** Records a terminal state for a stream whose owner did not, or could not. */
	private Mono<StreamView> recordTerminal(String id, String status, String reason, @Nullable String error) {
		return reactive().flatMap(redis -> redis.hget(hash(id), "owner")
			.defaultIfEmpty("")
			.flatMap(owner -> redis
				.<String>eval(REMOTE_TERMINAL, ScriptOutputType.VALUE,
						new String[] { hash(id), events(id), owned(owner) }, status, reason,
						TIMESTAMP.format(Instant.now()), (error != null) ? error : "",
						Long.toString(this.retention.toMillis()), Integer.toString(this.maxEvents),
						terminalType(status), id, channel(id))
				.next()
				.map(view -> view(view, null, null))));
	}

	// --- leases and take-over

	private void renewAndTakeOver() {
		RedisReactiveCommands<String, String> redis = (this.connection != null) ? this.connection.reactive() : null;
		if (redis == null) {
			return;
		}
		Duration every = this.properties.leaseTime().dividedBy(2);
		redis.setGet(lease(this.replicaId), "1", SetArgs.Builder.px(this.properties.leaseTime().toMillis()))
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
			.then(redis.sadd(this.prefix + "replicas", this.replicaId).timeout(every, this.timers))
			// The listing index forgets streams far older than any that can still be retained.
			.then(redis.zremrangebyscore(this.prefix + "streams", Range.create(Double.NEGATIVE_INFINITY,
					(double) (System.currentTimeMillis() - this.retention.plusDays(1).toMillis()))))
			.doOnSuccess(ignored -> {
				if (!this.available) {
					logger.info("Redis reachable; replica " + this.replicaId + " takes new streams again");
				}
				this.available = true;
			})
			.thenMany(redis.smembers(this.prefix + "replicas"))
			.filter(replica -> !replica.equals(this.replicaId))
			.concatMap(replica -> redis.exists(lease(replica)).filter(alive -> alive == 0).flatMapMany(gone -> takeOver(redis, replica)))
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
			List<String> args = new java.util.ArrayList<>(List.of(stream.view(),
					Long.toString(stream.events().isEmpty() ? 0 : stream.events().get(stream.events().size() - 1).id()),
					Integer.toString(stream.outputTokens()), stream.terminal() ? "1" : "0",
					Long.toString(this.retention.toMillis()), stream.id(), Integer.toString(this.maxEvents)));
			for (StreamEvent event : stream.events()) {
				args.add(Long.toString(event.id()));
				args.add(event.type());
				args.add(event.data());
			}
			return redis.hset(hash(stream.id()), "key", stream.owner())
				.then(redis.zadd(this.prefix + "streams", (double) stream.createdAt().toEpochMilli(), stream.id()))
				.then(redis.zadd(keyIndex(stream.owner()), (double) stream.createdAt().toEpochMilli(), stream.id()))
				.then(redis.<Long>eval(REWRITE, ScriptOutputType.INTEGER,
					new String[] { hash(stream.id()), events(stream.id()), owned(this.replicaId), this.replicaId },
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
		return redis.smembers(owned(replica))
			.concatMap(id -> recordTerminal(id, "failed", "owner_lost", error))
			.doOnNext(view -> logger.warn("Stream " + view.id() + " of lost replica " + replica + " ended failed/owner_lost"))
			.concatWith(redis.srem(this.prefix + "replicas", replica).then(redis.del(owned(replica))).then(Mono.empty()));
	}

	// --- lifecycle

	@Override
	public void start() {
		// A client of its own, configured as Spring's connection factory is (spring.data.redis.*): its
		// connections must outlive the factory's, which may stop before the streams have drained.
		RedisClient client = RedisClient.create(redisUri(this.factory));
		// Reconnect by itself; while disconnected, keep the owner's writes and send them on reconnection,
		// in order. The queue stays Lettuce's default, unbounded and lock-free: a bounded one is an
		// ArrayBlockingQueue whose lock every command takes, event loops contending for it.
		client.setOptions(ClientOptions.builder()
			.autoReconnect(true)
			.disconnectedBehavior(ClientOptions.DisconnectedBehavior.ACCEPT_COMMANDS)
			.build());
		this.client = client;
		this.connection = client.connect(StringCodec.UTF8);
		this.pubsub = client.connectPubSub(StringCodec.UTF8);
		this.pubsub.addListener(new RedisPubSubAdapter<>() {
			@Override
			public void message(String channel, String message) {
				received(channel, message);
			}
		});
		this.pubsub.sync().subscribe(cancelChannel(this.replicaId));
		// The first lease before any stream is taken.
		this.connection.sync().set(lease(this.replicaId), "1", SetArgs.Builder.px(this.properties.leaseTime().toMillis()));
		this.leased = true;
		this.connection.sync().sadd(this.prefix + "replicas", this.replicaId);
		this.renewedNanos = System.nanoTime();
		this.available = true;
		Duration every = this.properties.leaseTime().dividedBy(3);
		this.leases = this.timers.schedulePeriodically(this::renewAndTakeOver, every.toMillis(),
				every.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
		this.running = true;
		logger.info("Redis mode: replica " + this.replicaId + ", lease " + this.properties.leaseTime());
	}

	@Override
	public void stop() {
		this.running = false;
		this.available = false;
		if (this.leases != null) {
			this.leases.dispose();
		}
		StatefulRedisConnection<String, String> connection = this.connection;
		if (connection != null && connection.isOpen()) {
			try {
				// A clean stop hands nothing over: its streams have ended (drained) already.
				connection.sync().srem(this.prefix + "replicas", this.replicaId);
				connection.sync().del(lease(this.replicaId));
			}
			catch (RuntimeException ex) {
				logger.debug("Could not withdraw the lease of " + this.replicaId, ex);
			}
			connection.close();
		}
		if (this.pubsub != null) {
			this.pubsub.close();
		}
		if (this.client != null) {
			this.client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
		}
		this.timers.dispose();
	}

	private static RedisURI redisUri(LettuceConnectionFactory factory) {
		RedisStandaloneConfiguration server = factory.getStandaloneConfiguration();
		RedisURI uri = RedisURI.builder()
			.withHost(server.getHostName())
			.withPort(server.getPort())
			.withDatabase(server.getDatabase())
			.withSsl(factory.isUseSsl())
			.withTimeout(Duration.ofMillis(factory.getTimeout()))
			.build();
		if (server.getPassword().isPresent()) {
			if (server.getUsername() != null) {
				uri.setUsername(server.getUsername());
			}
			uri.setPassword(server.getPassword().get());
		}
		return uri;
	}

	@Override
	public boolean isRunning() {
		return this.running;
	}

	/** After the stream manager: stops after it has drained the streams, which writes their ends. */
	@Override
	public int getPhase() {
		return Integer.MAX_VALUE - 2048;
	}

	// --- helpers

	private void received(String channel, String message) {
		if (channel.equals(cancelChannel(this.replicaId))) {
			Consumer<String> cancel = this.cancels;
			if (cancel != null) {
				cancel.accept(message);
			}
			return;
		}
		Followed followed = this.followers.get(channel);
		if (followed == null) {
			return;
		}
		int first = message.indexOf('\n');
		int second = message.indexOf('\n', first + 1);
		StreamEvent event = new StreamEvent(Long.parseLong(message.substring(0, first)),
				message.substring(first + 1, second), message.substring(second + 1));
		for (Sinks.Many<StreamEvent> sink : followed.sinks()) {
			sink.tryEmitNext(event);
		}
	}

	private StreamView view(String view, @Nullable String last, @Nullable String tokens) {
		ObjectNode node = (ObjectNode) this.json.readTree(view);
		if (last != null) {
			node.put("last_event_id", Long.parseLong(last));
		}
		if (tokens != null && node.get("usage") instanceof ObjectNode usage) {
			usage.put("output_tokens", Integer.parseInt(tokens));
		}
		return this.json.treeToValue(node, StreamView.class);
	}

	private static String message(StreamEvent event) {
		return event.id() + "\n" + event.type() + "\n" + event.data();
	}

	private static long eventId(StreamMessage<String, String> message) {
		String id = message.getId();
		return Long.parseLong(id.substring(0, id.indexOf('-')));
	}

	private static String terminalType(String status) {
		return "stream." + status;
	}

	private @Nullable RedisAsyncCommands<String, String> commands() {
		StatefulRedisConnection<String, String> connection = this.connection;
		return (connection != null) ? connection.async() : null;
	}

	/** Commands for a read on behalf of a client: refused with {@code 503} while Redis is unreachable. */
	private Mono<RedisReactiveCommands<String, String>> reactive() {
		StatefulRedisConnection<String, String> connection = this.connection;
		if (connection == null || !available()) {
			return Mono.error(new ClusterUnavailable());
		}
		return Mono.just(connection.reactive());
	}

	private String hash(String id) {
		return this.prefix + "stream:" + id;
	}

	private String events(String id) {
		return this.prefix + "events:" + id;
	}

	private String channel(String id) {
		return this.prefix + "live:" + id;
	}

	/** The listing index of one API key's streams. */
	private String keyIndex(String owner) {
		return this.prefix + "streams:key:" + owner;
	}

	private String owned(String replica) {
		return this.prefix + "owned:" + replica;
	}

	private String lease(String replica) {
		return this.prefix + "replica:" + replica;
	}

	private String cancelChannel(String replica) {
		return this.prefix + "cancel:" + replica;
	}

	private static String hostName() {
		String host = System.getenv("HOSTNAME");
		return (host != null && !host.isBlank()) ? host : "scalpel";
	}

}
