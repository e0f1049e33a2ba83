package dev.scalpel.upstream;

import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.locks.LockSupport;

import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import reactor.core.Disposable;
import reactor.core.scheduler.Schedulers;
import reactor.netty.resources.ConnectionProvider;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.web.reactive.function.client.WebClient;

import dev.scalpel.upstream.ProviderProperties.Type;
import dev.scalpel.upstream.fake.ReceivedRequest;
import dev.scalpel.upstream.fake.Script;
import dev.scalpel.upstream.fake.TestUpstream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A cancel at a random instant around the provider's answer — before its headers reach Scalpel,
 * between the headers and the body, or among the first chunks — closes the upstream connection,
 * every time. (Spring's connector answers a cancel between headers and body by reading the body to
 * its end; for a stream of tokens that is the whole generation.) 400 runs, both protocols, half of
 * them on a connection reused from the pool.
 */
class RemoteTokenSourceCancelRaceTest {

	private static final TestUpstream upstream = TestUpstream.start();

	private static final ConnectionProvider connections = ConnectionProvider.create("race-upstream", 64);

	@AfterAll
	static void closeEverything() {
		connections.disposeLater().block(Duration.ofSeconds(5));
		upstream.closeWhenAllClosed(Duration.ofSeconds(5));
	}

	@Test
	void aCancelAtAnyInstantAroundTheAnswerClosesTheConnection() {
		UpstreamProperties properties = UpstreamProperties.withTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(5),
				Duration.ofSeconds(10));
		WebClient client = UpstreamConfiguration.webClient(WebClient.builder(), connections, properties);
		upstream.defaultScript(Script.words(2000).interval(Duration.ofMillis(5)));
		SplittableRandom random = new SplittableRandom(42);
		int reused = 0;
		for (int run = 0; run < 400; run++) {
			Type type = (run % 2 == 0) ? Type.OPENAI : Type.ANTHROPIC;
			RemoteTokenSource source = new RemoteTokenSource(new ProviderProperties.Endpoint("ep", type,
					URI.create(upstream.baseUrl()), "key", List.of("m"), Map.of(), true, 4096, "2023-06-01"), client,
					JsonMapper.builder().build(), properties,
					CircuitBreaker.of("ep", UpstreamConfiguration.circuitBreakerConfig(properties.circuitBreaker())),
					Schedulers.parallel());
			GenerationRequest hi = new GenerationRequest("m", List.of(new Message("user", "Hi")), null, null);
			ReceivedRequest warm = null;
			if (run % 4 >= 2) {
				// Half the runs race on a pooled connection: one left by a call that ran to its end.
				upstream.enqueue(Script.tokens("Done"));
				source.generate(hi).blockLast(Duration.ofSeconds(5));
				warm = upstream.awaitRequest(Duration.ofSeconds(5));
				// The connection goes back to the pool just after the call completes.
				LockSupport.parkNanos(2_000_000);
			}
			Disposable call = source.generate(hi).subscribe(chunk -> {
			}, failure -> {
			});
			ReceivedRequest request = upstream.awaitRequest(Duration.ofSeconds(5));
			if (warm != null && request.connection() == warm.connection()) {
				reused++;
			}
			// From at once to 3 ms after the provider got the request: before, during and after its headers.
			LockSupport.parkNanos(random.nextLong(3_000_000));
			long cancelled = System.nanoTime();
			call.dispose();

			Duration closedAfter = request.connection().awaitClosed(Duration.ofSeconds(2), cancelled);
			assertThat(closedAfter).as("run %d (%s)", run, type).isLessThan(Duration.ofMillis(100));
			assertThat(request.connection().closedByClient()).isTrue();
		}
		// Most of the runs meant to race on a pooled connection did.
		assertThat(reused).isGreaterThan(150);
	}

}
