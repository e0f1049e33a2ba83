package dev.scalpel.cluster;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import org.junit.jupiter.api.Test;

import dev.scalpel.support.TestRedis;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * API.md: "A rejected start creates no stream" — in redis mode too, where a stream's creation is
 * written to the shared store. A start refused with {@code 429} (every slot held, no queue) once left
 * its creation there: the listing showed it {@code queued} for as long as its replica lived, with its
 * owner, its first event and its place in the indexes. Now nothing is written before the start is
 * accepted.
 */
class RedisRefusedStartEndToEndTest {

	private static final Duration WAIT = Duration.ofSeconds(20);

	@Test
	void aStartRefusedWithAFullQueueLeavesNothingInRedis() {
		try (TestRedis redis = TestRedis.start()) {
			RedisReplicasEndToEndTest.Replica replica = RedisReplicasEndToEndTest.Replica.start("a", redis,
					"--scalpel.slots.max=1", "--scalpel.queue.max=0");
			RedisClient client = RedisClient.create(redis.url());
			try (StatefulRedisConnection<String, String> connection = client.connect()) {
				// The controlled model's call holds the one slot until the test ends it.
				String held = replica.startBackground("controlled");
				replica.upstream().nextCall(WAIT);
				List<String> keysBefore = keys(connection);

				for (int i = 0; i < 5; i++) {
					assertThat(replica.startAnswer("{\"model\":\"controlled\",\"prompt\":\"refused\",\"background\":true}")
						.status()).isEqualTo(429);
				}

				assertThat(replica.list("limit=100").path("data").findValuesAsString("id")).containsExactly(held);
				assertThat(replica.list("status=queued").path("data").size()).isZero();
				assertThat(keys(connection)).isEqualTo(keysBefore);
				assertThat(connection.sync().zcard("scalpel:streams")).isEqualTo(1);
				assertThat(replica.cancel(held).path("status").asString()).isEqualTo("cancelled");
			}
			finally {
				client.shutdown();
				replica.context().close();
			}
		}
	}

	/** The keys of streams in Redis, sorted (the replica's lease key aside). */
	private static List<String> keys(StatefulRedisConnection<String, String> connection) {
		List<String> keys = new ArrayList<>(connection.sync().keys("scalpel:*"));
		keys.removeIf(key -> key.startsWith("scalpel:replica:"));
		keys.sort(null);
		return keys;
	}

}
