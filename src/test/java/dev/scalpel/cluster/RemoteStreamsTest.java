package dev.scalpel.cluster;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.RepeatedTest;
import org.reactivestreams.Subscription;
import reactor.core.publisher.BaseSubscriber;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;
import tools.jackson.databind.json.JsonMapper;

import dev.scalpel.stream.EventType;
import dev.scalpel.stream.StreamEvent;
import dev.scalpel.support.Await;
import dev.scalpel.support.TestRedis;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A reader on another replica that falls behind: its buffer of live events is bounded (four here),
 * and what it misses it reads back from the Redis Stream, so it still gets every event once, in
 * order, the terminal one last.
 */
class RemoteStreamsTest {

	private static final Duration BOUND = Duration.ofSeconds(10);

	private static TestRedis server;

	private static RedisClient client;

	private static StatefulRedisConnection<String, String> connection;

	private static StatefulRedisPubSubConnection<String, String> pubsub;

	private static OwnerJournal journal;

	private static RemoteStreams remote;

	private static Scheduler timers;

	@BeforeAll
	static void start() {
		server = TestRedis.start();
		client = RedisClient.create(server.url());
		connection = client.connect(StringCodec.UTF8);
		RedisKeys keys = new RedisKeys("test:");
		RedisScripts scripts = RedisScripts.load();
		Duration retention = Duration.ofMinutes(5);
		journal = new OwnerJournal(keys, scripts, "owner", retention, 10_000);
		journal.open(client.connect(StringCodec.UTF8));
		timers = Schedulers.newSingle("remote-test-timers");
		ClusterProperties properties = new ClusterProperties(ClusterProperties.Mode.REDIS, Duration.ofSeconds(3),
				Duration.ofSeconds(2), "reader", "test:");
		remote = new RemoteStreams(keys, scripts, properties, JsonMapper.shared(), retention, 10_000,
				() -> Mono.just(connection.reactive()), timers, 4);
		pubsub = client.connectPubSub(StringCodec.UTF8);
		pubsub.addListener(new RedisPubSubAdapter<>() {
			@Override
			public void message(String channel, String message) {
				remote.received(channel, message);
			}
		});
		remote.open(pubsub);
	}

	@AfterAll
	static void stop() {
		if (journal != null) {
			journal.close(Duration.ofSeconds(2));
		}
		if (client != null) {
			pubsub.close();
			connection.close();
			client.shutdown();
		}
		if (timers != null) {
			timers.dispose();
		}
		if (server != null) {
			server.close();
		}
	}

	@RepeatedTest(20)
	void aReaderThatFallsBehindStillGetsEveryEventInOrder(org.junit.jupiter.api.RepetitionInfo repetition) {
		String id = "s-slow-" + repetition.getCurrentRepetition();
		journal.created(id, "default", Instant.now());
		journal.appended(id, new StreamEvent(1, EventType.CREATED.wireName(), "{\"id\":\"" + id + "\"}"), "{\"id\":\"" + id + "\"}", 0);
		journal.written(id, BOUND, timers).block(BOUND);
		Flux<StreamEvent> events = remote.events(id, 0).block(BOUND);
		List<StreamEvent> received = new CopyOnWriteArrayList<>();
		Slow reader = new Slow(received);
		events.subscribe(reader);
		Await.atMost(BOUND).until(() -> received.size() == 1);
		// Subscribed to the channel once the first event was replayed: the next hundred overflow the
		// buffer of four while the reader asks for nothing.
		for (int i = 2; i <= 101; i++) {
			journal.appended(id, new StreamEvent(i, EventType.TOKEN.wireName(), "{\"text\":\"t" + i + "\"}"), null, i - 1);
		}
		journal.appended(id, new StreamEvent(102, "stream.completed", "{\"id\":\"" + id + "\"}"), "{\"id\":\"" + id + "\"}", 100);
		Await.atMost(BOUND).until(() -> "1".equals(connection.sync().hget("test:stream:" + id, "final")));
		reader.more();
		Await.atMost(BOUND).until(reader::done);
		assertThat(received).extracting(StreamEvent::id).containsExactlyElementsOf(
				java.util.stream.LongStream.rangeClosed(1, 102).boxed().toList());
		assertThat(received.get(received.size() - 1).type()).isEqualTo("stream.completed");
	}

	/** Asks for one event, then for the rest when told. */
	private static final class Slow extends BaseSubscriber<StreamEvent> {

		private final List<StreamEvent> received;

		private volatile boolean done;

		Slow(List<StreamEvent> received) {
			this.received = received;
		}

		@Override
		protected void hookOnSubscribe(Subscription subscription) {
			request(1);
		}

		@Override
		protected void hookOnNext(StreamEvent event) {
			this.received.add(event);
		}

		@Override
		protected void hookFinally(reactor.core.publisher.SignalType type) {
			this.done = true;
		}

		void more() {
			requestUnbounded();
		}

		boolean done() {
			return this.done;
		}

	}

}
