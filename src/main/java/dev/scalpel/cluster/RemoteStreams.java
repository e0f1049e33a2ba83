package dev.scalpel.cluster;

import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArraySet;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

import io.lettuce.core.Limit;
import io.lettuce.core.Range;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.StreamMessage;
import io.lettuce.core.api.reactive.RedisReactiveCommands;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import org.jspecify.annotations.Nullable;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Scheduler;
import reactor.util.concurrent.Queues;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

import dev.scalpel.stream.Caller;
import dev.scalpel.stream.EventsExpired;
import dev.scalpel.stream.InvalidRequest;
import dev.scalpel.stream.StreamEvent;
import dev.scalpel.stream.StreamNotFound;
import dev.scalpel.stream.StreamPage;
import dev.scalpel.stream.StreamStatus;
import dev.scalpel.stream.StreamView;

import static dev.scalpel.cluster.RedisKeys.ENTRY_DATA;
import static dev.scalpel.cluster.RedisKeys.ENTRY_TOKENS;
import static dev.scalpel.cluster.RedisKeys.ENTRY_TYPE;
import static dev.scalpel.cluster.RedisKeys.FINAL;
import static dev.scalpel.cluster.RedisKeys.KEY;
import static dev.scalpel.cluster.RedisKeys.OWNER;
import static dev.scalpel.cluster.RedisKeys.VIEW;

/**
 * This replica's reads and cancels of streams other replicas own (this replica → others): the status
 * from the stream's hash and newest entry, the listing from the creation-time indexes, the events as a
 * replay of the Redis Stream then the channel, and a cancel sent to the owner's channel, recorded here
 * when the owner does not carry it out in time or is gone.
 */
final class RemoteStreams {

	private static final DateTimeFormatter TIMESTAMP = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")
		.withZone(ZoneOffset.UTC);

	/** Streams read from the index at a time while listing. */
	private static final int LIST_BATCH = 100;

	private final RedisKeys keys;

	private final RedisScripts scripts;

	private final ClusterProperties properties;

	private final JsonMapper json;

	private final Duration retention;

	private final int maxEvents;

	private final Supplier<Mono<RedisReactiveCommands<String, String>>> reactive;

	private final Scheduler timers;

	/** Live events held for one follower that has not read them yet. */
	private final int followBuffer;

	private final Map<String, Followed> followers = new ConcurrentHashMap<>();

	private volatile @Nullable StatefulRedisPubSubConnection<String, String> pubsub;

	RemoteStreams(RedisKeys keys, RedisScripts scripts, ClusterProperties properties, JsonMapper json,
			Duration retention, int maxEvents, Supplier<Mono<RedisReactiveCommands<String, String>>> reactive,
			Scheduler timers, int followBuffer) {
		this.keys = keys;
		this.followBuffer = followBuffer;
		this.scripts = scripts;
		this.properties = properties;
		this.json = json;
		this.retention = retention;
		this.maxEvents = maxEvents;
		this.reactive = reactive;
		this.timers = timers;
	}

	void open(StatefulRedisPubSubConnection<String, String> pubsub) {
		this.pubsub = pubsub;
	}

	Mono<StreamView> status(String id) {
		return this.reactive.get().flatMap(redis -> status(redis, id));
	}

	private Mono<StreamView> status(RedisReactiveCommands<String, String> redis, String id) {
		return redis.hmget(this.keys.hash(id), VIEW, FINAL).collectList().flatMap(values -> {
			String view = values.get(0).getValueOrElse(null);
			if (view == null) {
				return Mono.empty();
			}
			if (values.get(1).hasValue()) {
				return Mono.just(view(view, null, null));
			}
			return newest(redis, id)
				.map(newest -> view(view, Long.toString(eventId(newest)), newest.getBody().get(ENTRY_TOKENS)))
				.defaultIfEmpty(view(view, null, null));
		});
	}

	Mono<String> owner(String id) {
		return this.reactive.get().flatMap(redis -> redis.hmget(this.keys.hash(id), VIEW, KEY).collectList().flatMap(values -> {
			if (!values.get(0).hasValue()) {
				return Mono.empty();
			}
			// Written before keys were: the streams of an open service, whose one owner this is.
			return Mono.just(values.get(1).getValueOrElse(Caller.OPEN.owner()));
		}));
	}

	Mono<StreamPage> list(@Nullable StreamStatus status, int limit, @Nullable String after, @Nullable String owner) {
		String index = (owner != null) ? this.keys.keyIndex(owner) : this.keys.index();
		return this.reactive.get().flatMap(redis -> {
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
						id -> status(redis, id).switchIfEmpty(Mono.defer(() -> redis.zrem(index, id).then(Mono.empty()))), 32)
					.filter(view -> status == null || status.wireName().equals(view.status()))
					.take(limit + 1L)
					.collectList()
					.map(views -> StreamPage.of(views.subList(0, Math.min(limit, views.size())), views.size() > limit));
			});
		});
	}

	/** The newest entry of a stream's Redis Stream (its id is the last event id; n the output tokens). */
	private Mono<StreamMessage<String, String>> newest(RedisReactiveCommands<String, String> redis, String id) {
		return redis.xrevrange(this.keys.events(id), Range.create("-", "+"), Limit.from(1)).next();
	}

	Mono<StreamView> cancel(String id) {
		return this.reactive.get().flatMap(redis -> redis.hmget(this.keys.hash(id), VIEW, OWNER, FINAL).collectList().flatMap(values -> {
			String view = values.get(0).getValueOrElse(null);
			if (view == null) {
				return Mono.<StreamView>empty();
			}
			if (values.get(2).hasValue()) {
				return Mono.just(view(view, null, null));
			}
			String owner = values.get(1).getValueOrElse("");
			return redis.exists(this.keys.lease(owner)).flatMap(alive -> {
				if (alive == 0) {
					return recordTerminal(redis, id, owner, "cancelled", "cancel_requested", null);
				}
				// Ask the owner once this replica follows the stream, and answer when its terminal event
				// (written with the terminal state, in one script) shows the owner did it.
				Sinks.One<Boolean> ended = Sinks.one();
				Disposable following = follow(id, () -> redis.publish(this.keys.cancelChannel(owner), id)
					.then(redis.hexists(this.keys.hash(id), FINAL))
					.subscribe(already -> {
						if (already) {
							ended.tryEmitValue(true);
						}
					}, ended::tryEmitError))
					.filter(StreamEvent::terminal)
					.next()
					.subscribe(terminal -> ended.tryEmitValue(true), ended::tryEmitError);
				return ended.asMono()
					.then(status(redis, id))
					.timeout(this.properties.cancelTimeout(),
							Mono.defer(() -> recordTerminal(redis, id, owner, "cancelled", "cancel_requested", null)),
							this.timers)
					.doFinally(signal -> following.dispose());
			});
		}));
	}

	Mono<Flux<StreamEvent>> events(String id, long after) {
		return this.reactive.get().flatMap(redis -> redis.hget(this.keys.hash(id), VIEW)
			.switchIfEmpty(Mono.error(() -> new StreamNotFound(id)))
			.then(newest(redis, id).map(RemoteStreams::eventId).defaultIfEmpty(0L))
			.flatMap(last -> {
				if (after > last) {
					return Mono.error(InvalidRequest.invalid("after", "is beyond the newest event, " + last));
				}
				return redis.xrange(this.keys.events(id), Range.create("-", "+"), Limit.from(1))
					.next()
					.map(RemoteStreams::eventId)
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
		return redis.xrange(this.keys.events(id), Range.create(from + "-0", (to == Long.MAX_VALUE) ? "+" : to + "-0"))
			.map(message -> new StreamEvent(eventId(message), message.getBody().get(ENTRY_TYPE),
					message.getBody().get(ENTRY_DATA)));
	}

	/** A channel this replica follows for the streams of others, with the followers it serves. */
	private record Followed(Set<Sinks.Many<StreamEvent>> sinks, Mono<Void> subscribed) {
	}

	/**
	 * Events published for a stream from now on, while subscribed; {@code ready} runs once Redis has
	 * confirmed the channel subscription.
	 */
	private Flux<StreamEvent> follow(String id, Runnable ready) {
		String channel = this.keys.channel(id);
		return Flux.create(sink -> {
			StatefulRedisPubSubConnection<String, String> pubsub = this.pubsub;
			if (pubsub == null) {
				sink.error(new IllegalStateException("not connected to Redis"));
				return;
			}
			// Bounded, as a local listener's lag is: what a slow reader misses here it reads back from
			// the Redis Stream before the next event it gets (replayThenFollow), nothing is lost.
			Sinks.Many<StreamEvent> events = Sinks.many().unicast().onBackpressureBuffer(Queues.<StreamEvent>get(this.followBuffer).get());
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

	/** A message published on a stream's channel, for this replica's followers of that stream. */
	void received(String channel, String message) {
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

	/** Records a terminal state for a stream whose owner did not, or could not. */
	Mono<StreamView> recordTerminal(RedisReactiveCommands<String, String> redis, String id, String status,
			String reason, @Nullable String error) {
		return redis.hget(this.keys.hash(id), OWNER)
			.defaultIfEmpty("")
			.flatMap(owner -> recordTerminal(redis, id, owner, status, reason, error));
	}

	private Mono<StreamView> recordTerminal(RedisReactiveCommands<String, String> redis, String id, String owner,
			String status, String reason, @Nullable String error) {
		return redis
			.<String>eval(this.scripts.remoteTerminal().getScriptAsString(), ScriptOutputType.VALUE,
					new String[] { this.keys.hash(id), this.keys.events(id), this.keys.owned(owner) }, status, reason,
					TIMESTAMP.format(Instant.now()), (error != null) ? error : "",
					Long.toString(this.retention.toMillis()), Integer.toString(this.maxEvents), "stream." + status, id,
					this.keys.channel(id))
			.next()
			.map(view -> view(view, null, null));
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

	/** An event as published on its stream's channel: id, type and data on three lines. */
	static String message(StreamEvent event) {
		return event.id() + "\n" + event.type() + "\n" + event.data();
	}

	private static long eventId(StreamMessage<String, String> message) {
		String id = message.getId();
		return Long.parseLong(id.substring(0, id.indexOf('-')));
	}

}
