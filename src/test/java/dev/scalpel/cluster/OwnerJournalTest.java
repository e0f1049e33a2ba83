package dev.scalpel.cluster;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.lettuce.core.RedisClient;
import io.lettuce.core.StreamMessage;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.codec.StringCodec;
import io.netty.channel.DefaultEventLoop;
import io.netty.channel.EventLoop;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.scalpel.stream.EventType;
import dev.scalpel.stream.StreamEvent;
import dev.scalpel.support.Await;
import dev.scalpel.support.TestRedis;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The owner's journal against a real Redis: the appends of one event-loop turn reach Redis as one
 * pipelined write, not a write per command, and a stream's writes stay in order when its tokens and
 * its terminal event come from different event loops.
 */
class OwnerJournalTest {

	private static final Duration BOUND = Duration.ofSeconds(10);

	private static final Pattern READS = Pattern.compile("total_reads_processed:(\\d+)");

	private static TestRedis server;

	private static RedisClient client;

	private static RedisCommands<String, String> redis;

	private static StatefulRedisConnection<String, String> control;

	private static OwnerJournal journal;

	private static EventLoop first;

	private static EventLoop second;

	@BeforeAll
	static void start() {
		server = TestRedis.start();
		client = RedisClient.create(server.url());
		control = client.connect(StringCodec.UTF8);
		redis = control.sync();
		journal = new OwnerJournal(new RedisKeys("test:"), RedisScripts.load(), "replica-1", Duration.ofMinutes(5), 10_000);
		journal.open(client.connect(StringCodec.UTF8));
		first = new DefaultEventLoop();
		second = new DefaultEventLoop();
	}

	@AfterAll
	static void stop() throws InterruptedException {
		if (journal != null) {
			journal.close(Duration.ofSeconds(2));
		}
		if (first != null) {
			first.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
			second.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
		}
		if (control != null) {
			control.close();
			client.shutdown();
		}
		if (server != null) {
			server.close();
		}
	}

	@Test
	void theAppendsOfOneTurnAreOneWrite() throws Exception {
		long before = reads();
		run(first, () -> {
			journal.created("s-turn", "default", Instant.now());
			journal.appended("s-turn", new StreamEvent(1, EventType.CREATED.wireName(), "{}"), "{}", 0);
			for (int i = 2; i <= 101; i++) {
				journal.appended("s-turn", new StreamEvent(i, EventType.TOKEN.wireName(), "{\"text\":\"tok" + i + "\"}"), null, i - 1);
			}
		});
		java.util.concurrent.atomic.AtomicInteger polls = new java.util.concurrent.atomic.AtomicInteger();
		Await.atMost(BOUND).until(() -> polls.incrementAndGet() > 0 && redis.xlen("test:events:s-turn") == 101);
		// 305 commands: a write per command would be read as hundreds of reads; one pipelined write
		// of about 30 KB is a few reads of Redis's 16 KB buffer (plus one per poll and the INFO below).
		assertThat(reads() - before - polls.get()).isLessThan(20);
	}

	@Test
	void offAnEventLoopAnAppendIsSentAtOnce() {
		journal.created("s-off", "default", Instant.now());
		journal.appended("s-off", new StreamEvent(1, EventType.CREATED.wireName(), "{}"), "{}", 0);
		Await.atMost(BOUND).until(() -> redis.xlen("test:events:s-off") == 1);
		assertThat(journal.written("s-off", BOUND, reactor.core.scheduler.Schedulers.immediate())
			.block(BOUND)).isNull();
	}

	/**
	 * Tokens on one loop, the terminal event on the other at a random moment, under the stream's lock
	 * as the manager appends: 300 streams, each ending with its entries in order, gapless, the
	 * terminal one last.
	 */
	@Test
	void aStreamsWritesStayInOrderAcrossEventLoops() throws Exception {
		SplittableRandom random = new SplittableRandom();
		int streams = 300;
		CountDownLatch done = new CountDownLatch(streams);
		for (int s = 0; s < streams; s++) {
			String id = "s-race-" + s;
			Appender stream = new Appender(id);
			int tokens = 1 + random.nextInt(60);
			int endAfter = random.nextInt(tokens + 1);
			run(first, stream::create);
			for (int t = 0; t < tokens; t++) {
				// Tokens in turns of random size, as upstream reads deliver them.
				int burst = 1 + random.nextInt(8);
				first.execute(() -> {
					for (int i = 0; i < burst; i++) {
						stream.token();
					}
				});
				if (t == endAfter) {
					second.execute(stream::cancel);
				}
			}
			first.execute(stream::complete);
			first.execute(done::countDown);
		}
		assertThat(done.await(BOUND.toSeconds(), TimeUnit.SECONDS)).isTrue();
		for (int s = 0; s < streams; s++) {
			String id = "s-race-" + s;
			Await.atMost(BOUND).until(() -> "1".equals(redis.hget("test:stream:" + id, "final")));
			List<StreamMessage<String, String>> entries = redis.xrange("test:events:" + id, io.lettuce.core.Range.create("-", "+"));
			for (int i = 0; i < entries.size(); i++) {
				assertThat(entries.get(i).getId()).as(id).isEqualTo((i + 1) + "-0");
			}
			String last = entries.get(entries.size() - 1).getBody().get("t");
			assertThat(last).as(id).isIn("stream.completed", "stream.cancelled");
			assertThat(entries.subList(0, entries.size() - 1)).as(id)
				.allSatisfy(entry -> assertThat(entry.getBody().get("t")).isIn(EventType.CREATED.wireName(), EventType.TOKEN.wireName()));
			assertThat(redis.sismember("test:owned:replica-1", id)).as(id).isFalse();
		}
	}

	/** A stream as the manager appends to it: under its lock, ids in order, nothing after the end. */
	private static final class Appender {

		private final String id;

		private long next = 1;

		private boolean ended;

		Appender(String id) {
			this.id = id;
		}

		synchronized void create() {
			journal.created(this.id, "default", Instant.now());
			journal.appended(this.id, new StreamEvent(this.next++, EventType.CREATED.wireName(), "{}"), "{}", 0);
		}

		synchronized void token() {
			if (!this.ended) {
				journal.appended(this.id, new StreamEvent(this.next, EventType.TOKEN.wireName(), "{\"text\":\"t\"}"), null, (int) this.next++);
			}
		}

		synchronized void cancel() {
			end("stream.cancelled");
		}

		synchronized void complete() {
			end("stream.completed");
		}

		private void end(String type) {
			if (!this.ended) {
				this.ended = true;
				journal.appended(this.id, new StreamEvent(this.next++, type, "{\"status\":\"x\"}"), null, 0);
			}
		}

	}

	private static void run(EventLoop loop, Runnable task) throws Exception {
		loop.submit(task).get(BOUND.toSeconds(), TimeUnit.SECONDS);
	}

	private static long reads() {
		Matcher matcher = READS.matcher(redis.info("stats"));
		assertThat(matcher.find()).isTrue();
		return Long.parseLong(matcher.group(1));
	}

	@Test
	void theScriptsSpellTheFieldsAsRedisKeysDoes() throws Exception {
		List<String> fields = List.of(RedisKeys.VIEW, RedisKeys.LAST, RedisKeys.TOKENS, RedisKeys.OWNER, RedisKeys.KEY,
				RedisKeys.FINAL, RedisKeys.ENTRY_TYPE, RedisKeys.ENTRY_DATA, RedisKeys.ENTRY_TOKENS);
		RedisScripts scripts = RedisScripts.load();
		Pattern hashCall = Pattern.compile("redis\\.call\\('H(?:SET|GET|EXISTS)', KEYS\\[1\\], ([^)]*)\\)");
		Pattern entry = Pattern.compile("'-0', (.*)\\)");
		Pattern literal = Pattern.compile("'([a-z_]+)'");
		for (String script : List.of(scripts.ownerTerminal().getScriptAsString(), scripts.remoteTerminal().getScriptAsString(),
				scripts.rewrite().getScriptAsString())) {
			int seen = 0;
			for (Pattern call : List.of(hashCall, entry)) {
				Matcher matcher = call.matcher(script);
				while (matcher.find()) {
					Matcher names = literal.matcher(matcher.group(1));
					while (names.find()) {
						assertThat(fields).contains(names.group(1));
						seen++;
					}
				}
			}
			assertThat(seen).isPositive();
		}
	}

}
