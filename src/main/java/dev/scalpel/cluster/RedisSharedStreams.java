package dev.scalpel.cluster;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Supplier;

import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
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
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.context.SmartLifecycle;
import org.springframework.data.redis.connection.RedisStandaloneConfiguration;
import org.springframework.data.redis.connection.lettuce.LettuceConnectionFactory;

import dev.scalpel.stream.ClusterUnavailable;
import dev.scalpel.stream.SharedStreams;
import dev.scalpel.stream.StreamEvent;
import dev.scalpel.stream.StreamPage;
import dev.scalpel.stream.StreamStatus;
import dev.scalpel.stream.StreamView;

/**
 * Redis mode. The owner of a stream writes what it appends ({@link OwnerJournal}): each event to a
 * Redis Stream ({@code events:<id>}, entry id = event id, trimmed to {@code max-events}) and to a
 * pub/sub channel, and the status to a hash ({@code stream:<id>}: the status object, the last event
 * id, the output tokens, the owner replica, and the API key the stream belongs to, written before the
 * first event so that whoever finds the stream finds whose it is). The terminal event goes through a
 * Lua script that writes it only if no terminal state is recorded yet, so across replicas the first
 * terminal transition wins; from then on both keys expire after the retention.
 *
 * <p>Another replica ({@link RemoteStreams}) reads the hash for the status, replays the Redis Stream
 * and follows the channel for events, and sends a cancel to the owner's channel
 * ({@code cancel:<replica>}); the owner ends the stream as a cancel of its own (slot, upstream call,
 * listeners). If the owner does not end it within {@code cancel-timeout}, or its lease has lapsed, the
 * cancelling replica records the terminal state itself. Each replica renews a lease ({@link Leases});
 * the live streams ({@code owned:<replica>}) of one whose lease lapsed are ended
 * {@code failed/owner_lost} by any live replica.
 *
 * <p>Lettuce rather than Spring's template: the owner's writes are pipelined fire-and-forget commands
 * on a connection of their own, in the order the stream appended them, with no reply awaited on the
 * token path.
 */
public final class RedisSharedStreams implements SharedStreams, SmartLifecycle {

	private static final Log logger = LogFactory.getLog(RedisSharedStreams.class);

	/** Live events of another replica's stream held for a reader that is behind, before it reads back. */
	private static final int FOLLOW_BUFFER = 256;

	private final LettuceConnectionFactory factory;

	private final ClusterProperties properties;

	private final String replicaId;

	private final RedisKeys keys;

	private final OwnerJournal journal;

	private final RemoteStreams remote;

	private final Leases leases;

	private volatile @Nullable Consumer<String> cancels;

	private volatile boolean running;

	private @Nullable RedisClient client;

	private volatile @Nullable StatefulRedisConnection<String, String> connection;

	private @Nullable StatefulRedisPubSubConnection<String, String> pubsub;

	private @Nullable Disposable renewals;

	/**
	 * The lease renewals' and time-outs' own thread, a plain JDK one: never Reactor's shared schedulers,
	 * which a test's virtual time (or anything else replacing Reactor's scheduler factory) would stop.
	 */
	private final ScheduledExecutorService timerThread = Executors.newSingleThreadScheduledExecutor(runnable -> {
		Thread thread = new Thread(runnable, "scalpel-cluster-timer");
		thread.setDaemon(true);
		return thread;
	});

	private final Scheduler timers = Schedulers.fromExecutorService(this.timerThread, "scalpel-cluster-timer");

	RedisSharedStreams(LettuceConnectionFactory factory, ClusterProperties properties, JsonMapper json,
			RedisScripts scripts, Duration retention, int maxEvents) {
		this.factory = factory;
		this.properties = properties;
		this.replicaId = (properties.replicaId() != null && !properties.replicaId().isBlank())
				? properties.replicaId() : hostName() + "-" + UUID.randomUUID().toString().substring(0, 8);
		this.keys = new RedisKeys(properties.keyPrefix());
		this.journal = new OwnerJournal(this.keys, scripts, this.replicaId, retention, maxEvents);
		this.remote = new RemoteStreams(this.keys, scripts, properties, json, retention, maxEvents, this::reactive,
				this.timers, FOLLOW_BUFFER);
		this.leases = new Leases(this.keys, scripts, properties, this.replicaId, retention, maxEvents, this.remote,
				this.timers);
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
		this.journal.created(streamId, owner, createdAt);
	}

	@Override
	public void appended(String streamId, StreamEvent event, @Nullable String view, int outputTokens) {
		this.journal.appended(streamId, event, view, outputTokens);
	}

	@Override
	public Mono<Void> written(String streamId) {
		return this.journal.written(streamId, this.properties.leaseTime().dividedBy(2), this.timers);
	}

	@Override
	public void onCancelRequest(Consumer<String> cancel) {
		this.cancels = cancel;
	}

	@Override
	public void onLost(Consumer<String> lost) {
		this.leases.onLost(lost);
	}

	@Override
	public void onRewrite(Supplier<List<Snapshot>> streams) {
		this.leases.onRewrite(streams);
	}

	/** Connected, and the lease renewed in time ({@link Leases#current()}). */
	@Override
	public boolean available() {
		StatefulRedisConnection<String, String> connection = this.connection;
		return connection != null && connection.isOpen() && this.leases.current();
	}

	// --- another replica's side

	@Override
	public Mono<StreamView> status(String id) {
		return this.remote.status(id);
	}

	@Override
	public Mono<String> owner(String id) {
		return this.remote.owner(id);
	}

	@Override
	public Mono<StreamPage> list(@Nullable StreamStatus status, int limit, @Nullable String after,
			@Nullable String owner) {
		return this.remote.list(status, limit, after, owner);
	}

	@Override
	public Mono<StreamView> cancel(String id) {
		return this.remote.cancel(id);
	}

	@Override
	public Mono<Flux<StreamEvent>> events(String id, long after) {
		return this.remote.events(id, after);
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
		StatefulRedisConnection<String, String> connection = client.connect(StringCodec.UTF8);
		this.journal.open(client.connect(StringCodec.UTF8));
		StatefulRedisPubSubConnection<String, String> pubsub = client.connectPubSub(StringCodec.UTF8);
		pubsub.addListener(new RedisPubSubAdapter<>() {
			@Override
			public void message(String channel, String message) {
				received(channel, message);
			}
		});
		pubsub.sync().subscribe(this.keys.cancelChannel(this.replicaId));
		this.pubsub = pubsub;
		this.remote.open(pubsub);
		this.leases.take(connection);
		this.connection = connection;
		Duration every = this.properties.leaseTime().dividedBy(3);
		this.renewals = this.timers.schedulePeriodically(this::tick, every.toMillis(), every.toMillis(),
				TimeUnit.MILLISECONDS);
		this.running = true;
		logger.info("Redis mode: replica " + this.replicaId + ", lease " + this.properties.leaseTime());
	}

	private void tick() {
		StatefulRedisConnection<String, String> connection = this.connection;
		if (connection == null) {
			return;
		}
		// Writes queued while Redis was unreachable go out once it is back.
		this.journal.flush();
		this.leases.renewAndTakeOver(connection.reactive());
	}

	@Override
	public void stop() {
		this.running = false;
		this.leases.stop();
		if (this.renewals != null) {
			this.renewals.dispose();
		}
		this.journal.close(Duration.ofSeconds(2));
		StatefulRedisConnection<String, String> connection = this.connection;
		if (connection != null && connection.isOpen()) {
			try {
				this.leases.withdraw(connection);
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

	private void received(String channel, String message) {
		if (channel.equals(this.keys.cancelChannel(this.replicaId))) {
			Consumer<String> cancel = this.cancels;
			if (cancel != null) {
				cancel.accept(message);
			}
			return;
		}
		this.remote.received(channel, message);
	}

	/** Commands for a read on behalf of a client: refused with {@code 503} while Redis is unreachable. */
	private Mono<RedisReactiveCommands<String, String>> reactive() {
		StatefulRedisConnection<String, String> connection = this.connection;
		if (connection == null || !available()) {
			return Mono.error(new ClusterUnavailable());
		}
		return Mono.just(connection.reactive());
	}

	private static String hostName() {
		String host = System.getenv("HOSTNAME");
		return (host != null && !host.isBlank()) ? host : "scalpel";
	}

}
