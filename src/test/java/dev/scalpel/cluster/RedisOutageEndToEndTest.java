package dev.scalpel.cluster;

import java.time.Duration;

import org.junit.jupiter.api.Test;
import org.springframework.web.reactive.function.client.WebClient;

import dev.scalpel.support.Await;
import dev.scalpel.support.TestRedis;
import dev.scalpel.support.FakeControlledTokenSource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Redis stopped and started again, empty, under two replicas: while it is down, starts get
 * {@code 503 cluster_unavailable} and readiness is out of service, and a running stream keeps
 * streaming to its local listener; once it is back, the owner writes its streams again, so that a
 * listener on the other replica ends up with exactly the owner's events, and starts work again; the
 * stream is written again with its owner and into the listing.
 */
class RedisOutageEndToEndTest {

	private static final Duration WAIT = Duration.ofSeconds(20);

	@Test
	void whileRedisIsDownStartsAreRefusedAndStreamsGoOnThenNothingIsLost() {
		try (TestRedis redis = TestRedis.start()) {
			RedisReplicasEndToEndTest.Replica a = RedisReplicasEndToEndTest.Replica.start("a", redis);
			RedisReplicasEndToEndTest.Replica b = RedisReplicasEndToEndTest.Replica.start("b", redis);
			try {
				RedisReplicasEndToEndTest.Listening onA = a.startListening();
				FakeControlledTokenSource.Call call = a.upstream().nextCall(WAIT);
				call.token("before");
				String id = onA.awaitId();
				RedisReplicasEndToEndTest.Listening onB = b.attach(id, 0);
				Await.atMost(WAIT).until(() -> onB.count("token") == 1);
				assertThat(readiness(a)).isEqualTo(200);

				redis.stop();
				Await.atMost(WAIT).until(() -> readiness(a) == 503);
				double refusedBefore = rejected(a);
				assertThat(start(a)).isEqualTo(503);
				assertThat(rejected(a)).as("scalpel.streams.rejected{reason=cluster_unavailable}").isEqualTo(refusedBefore + 1);
				call.token("during-1").token("during-2");
				Await.atMost(WAIT).until(() -> onA.count("token") == 3);

				redis.restart();
				Await.atMost(WAIT).until(() -> readiness(a) == 200 && readiness(b) == 200);
				assertThat(start(a)).isEqualTo(202);
				call.token("after").finish("stop");

				Await.atMost(WAIT).until(() -> onA.ended() && onB.ended());
				assertThat(onA.last().event()).isEqualTo("stream.completed");
				assertThat(onB.events()).extracting(event -> event.id() + " " + event.event() + " " + event.data())
					.isEqualTo(onA.events().stream().map(event -> event.id() + " " + event.event() + " " + event.data()).toList());
				assertThat(b.status(id).path("status").asString()).isEqualTo("completed");
				assertThat(b.status(id).path("usage").path("output_tokens").asInt()).isEqualTo(4);
				// Written again with its owner (the one owner of an open service) and in the listing. The events
				// may reach B before that (Lettuce sends A's writes queued during the outage on reconnection);
				// the rewrite follows on A's next lease renewal.
				Await.atMost(WAIT).until(() -> b.list("limit=100").path("data").findValuesAsString("id").contains(id));
				io.lettuce.core.RedisClient client = io.lettuce.core.RedisClient.create(redis.url());
				try (var connection = client.connect()) {
					assertThat(connection.sync().hget("scalpel:stream:" + id, "key")).isEqualTo("anonymous");
				}
				finally {
					client.shutdown();
				}
			}
			finally {
				a.context().close();
				b.context().close();
			}
		}
	}

	private static int start(RedisReplicasEndToEndTest.Replica replica) {
		RedisReplicasEndToEndTest.Answer answer = replica.startAnswer("{\"prompt\":\"hi\",\"background\":true}");
		if (answer.status() == 503) {
			assertThat(answer.body()).contains("cluster_unavailable");
		}
		return answer.status();
	}

	private static double rejected(RedisReplicasEndToEndTest.Replica replica) {
		return replica.context()
			.getBean(io.micrometer.core.instrument.MeterRegistry.class)
			.counter("scalpel.streams.rejected", "reason", "cluster_unavailable")
			.count();
	}

	private static int readiness(RedisReplicasEndToEndTest.Replica replica) {
		String port = replica.context().getEnvironment().getProperty("local.management.port");
		return WebClient.create("http://localhost:" + port)
			.get()
			.uri("/actuator/health/readiness")
			.exchangeToMono(response -> response.releaseBody().thenReturn(response.statusCode().value()))
			.block(WAIT);
	}

}
