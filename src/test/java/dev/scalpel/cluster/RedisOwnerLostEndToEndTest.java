package dev.scalpel.cluster;

import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.web.reactive.function.client.WebClient;

import dev.scalpel.support.Await;
import dev.scalpel.support.TestRedis;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A replica killed abruptly (SIGKILL of its own JVM: no drain, no goodbye to Redis): within about the
 * lease time another replica ends its live streams {@code failed/owner_lost}, and a listener attached
 * to one of them through that other replica sees this terminal event last.
 */
class RedisOwnerLostEndToEndTest {

	private static final Duration WAIT = Duration.ofSeconds(30);

	private static final Duration LEASE = Duration.ofMillis(1500);

	@Test
	void theStreamsOfAKilledReplicaEndOwnerLostAndListenersElsewhereSeeIt(@TempDir Path logs) throws Exception {
		try (TestRedis redis = TestRedis.start()) {
			int port = freePort();
			Process owner = startReplicaProcess("a", redis, port, logs.resolve("a.log").toFile());
			RedisReplicasEndToEndTest.Replica b = RedisReplicasEndToEndTest.Replica.start("b", redis);
			try {
				WebClient onA = WebClient.create("http://localhost:" + port);
				Await.atMost(WAIT).until(() -> ready(onA));
				// A slow simulated generation: still running when A dies.
				String started = onA.post()
					.uri("/v1/streams")
					.header("Content-Type", "application/json")
					.bodyValue("{\"prompt\":\"long\",\"background\":true}")
					.retrieve()
					.bodyToMono(String.class)
					.block(WAIT);
				String id = JsonMapper.shared().readTree(started).path("id").asString();
				RedisReplicasEndToEndTest.Listening onB = b.attach(id, 0);
				Await.atMost(WAIT).until(() -> onB.count("token") >= 1);
				assertThat(b.status(id).path("status").asString()).isEqualTo("in_progress");

				owner.destroyForcibly();
				assertThat(owner.waitFor(10, TimeUnit.SECONDS)).isTrue();
				long killed = System.nanoTime();

				Await.atMost(WAIT).until(onB::ended);
				Duration took = Duration.ofNanos(System.nanoTime() - killed);
				assertThat(onB.last().event()).isEqualTo("stream.failed");
				JsonNode terminal = JsonMapper.shared().readTree(onB.last().data());
				assertThat(terminal.path("finish_reason").asString()).isEqualTo("owner_lost");
				assertThat(terminal.path("error").path("type").asString()).isEqualTo("owner_lost");
				assertThat(b.status(id).path("status").asString()).isEqualTo("failed");
				// The lease, then one take-over round (a third of the lease) and a margin.
				assertThat(took).as("owner_lost after the kill").isLessThan(LEASE.multipliedBy(3));
				System.out.println("owner_lost seen on B " + took.toMillis() + " ms after A was killed (lease "
						+ LEASE.toMillis() + " ms)");
			}
			finally {
				owner.destroyForcibly();
				b.context().close();
			}
		}
	}

	private static boolean ready(WebClient http) {
		try {
			return http.get().uri("/v1/models").exchangeToMono(r -> r.releaseBody().thenReturn(r.statusCode().value()))
				.block(Duration.ofSeconds(2)) == 200;
		}
		catch (RuntimeException notYet) {
			return false;
		}
	}

	/** Scalpel in a JVM of its own, on the main classpath only (no test classes). */
	private static Process startReplicaProcess(String name, TestRedis redis, int port, File log) throws IOException {
		String classpath = String.join(File.pathSeparator, Arrays.stream(System.getProperty("java.class.path")
			.split(File.pathSeparator)).filter(entry -> !entry.endsWith("test-classes")).toList());
		List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
				"-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", classpath, "dev.scalpel.ScalpelApplication",
				"--server.port=" + port, "--management.server.port=0", "--scalpel.cluster.mode=redis",
				"--spring.data.redis.url=" + redis.url(), "--scalpel.cluster.replica-id=" + name,
				"--scalpel.cluster.lease-time=" + LEASE.toMillis() + "ms",
				"--scalpel.providers.simulated.tokens-per-second=2", "--scalpel.providers.simulated.reply-tokens=1000",
				"--scalpel.providers.simulated.first-token-delay=0ms"));
		return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log).start();
	}

	private static int freePort() throws IOException {
		try (ServerSocket socket = new ServerSocket(0)) {
			return socket.getLocalPort();
		}
	}

}
