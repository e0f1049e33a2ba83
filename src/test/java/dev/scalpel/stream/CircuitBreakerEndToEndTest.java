package dev.scalpel.stream;

import java.time.Duration;

import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerRegistry;
import io.micrometer.core.instrument.MeterRegistry;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

import dev.scalpel.support.Await;
import dev.scalpel.support.EventRecorder;
import dev.scalpel.support.ScalpelTest;
import dev.scalpel.support.StreamsClient;
import dev.scalpel.upstream.fake.Endpoints;
import dev.scalpel.upstream.fake.Script;
import dev.scalpel.upstream.fake.TestUpstream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The circuit breaker of an endpoint, through the API against a real provider server: failures and
 * timeouts open it, starts routed to an open endpoint are refused at once with a {@code 503} problem
 * and create nothing, a trial call closes it again; and cancellations and client disconnects never
 * count as failures (lesson 10), however many come in a row, nor do requests the provider judged wrong.
 */
@ScalpelTest(properties = { "scalpel.slots.max=16", "scalpel.upstream.retry.max-attempts=1",
		"scalpel.upstream.idle-connection-time=300ms",
		"scalpel.upstream.first-token-timeout=300ms", "scalpel.upstream.circuit-breaker.sliding-window-size=10",
		"scalpel.upstream.circuit-breaker.minimum-number-of-calls=10",
		"scalpel.upstream.circuit-breaker.failure-rate-threshold=50",
		"scalpel.upstream.circuit-breaker.wait-duration-in-open-state=500ms",
		"scalpel.upstream.circuit-breaker.permitted-calls-in-half-open-state=1" })
class CircuitBreakerEndToEndTest extends ApiEndToEndTest {

	private static final TestUpstream upstream = TestUpstream.start();

	private static final String START = "{\"model\":\"guarded\",\"prompt\":\"Hi\",\"background\":true}";

	@Autowired
	CircuitBreakerRegistry breakers;

	@Autowired
	MeterRegistry meters;

	CircuitBreaker breaker;

	@DynamicPropertySource
	static void endpoint(DynamicPropertyRegistry registry) {
		Endpoints.register(registry, 0, "oa", "openai", upstream::baseUrl, null, "guarded");
	}

	@AfterAll
	static void noConnectionIsLeftOpen() {
		upstream.closeWhenAllClosed(Duration.ofSeconds(10));
	}

	@BeforeEach
	void closedBreaker() {
		upstream.reset();
		this.breaker = this.breakers.circuitBreaker("oa");
		this.breaker.reset();
	}

	@Test
	void lesson10CancellationsNeverTripTheBreakerAHundredCancelsAndAHundredDisconnectsInARowLeaveItClosed() {
		upstream.defaultScript(Script.words(1000).interval(Duration.ofMillis(10)));
		for (int i = 0; i < 100; i++) {
			String id = this.client.startAccepted(START);
			upstream.awaitRequest(StreamsClient.TIMEOUT);
			if (i % 2 == 1) {
				// Half of them mid-stream, half before the first token.
				Await.atMost(StreamsClient.TIMEOUT)
					.until(() -> this.client.status(id).path("usage").path("output_tokens").asInt() > 0);
			}
			this.client.cancel(id);
		}
		for (int i = 0; i < 100; i++) {
			EventRecorder listener = this.client.open("{\"model\":\"guarded\",\"prompt\":\"Hi\"}");
			upstream.awaitRequest(StreamsClient.TIMEOUT);
			// The test's client must be reading the body before it leaves: Spring's WebClient answers a
			// cancel that comes between the response headers and the body by reading the body to its end,
			// so it would not leave at all.
			listener.awaitEvent((i % 2 == 1) ? "token" : "stream.started");
			listener.disconnect();
			Await.atMost(StreamsClient.TIMEOUT).until(() -> this.slots.inUse() == 0);
		}

		assertThat(this.breaker.getState()).isEqualTo(CircuitBreaker.State.CLOSED);
		assertThat(this.breaker.getMetrics().getNumberOfFailedCalls()).isZero();
		assertThat(this.client.start(START).status()).isEqualTo(202);
	}

	@Test
	void failuresOpenItAndStartsAreThenRefusedAtOnceUntilATrialCallSucceeds() {
		upstream.defaultScript(Script.words(1).error(500, "server_error", "The server had an error"));
		String last = null;
		for (int i = 0; i < 10; i++) {
			last = this.client.startAccepted(START);
			awaitEnded(last);
		}
		JsonNode status = this.client.status(last);
		assertThat(status.path("status").asString()).isEqualTo("failed");
		assertThat(status.path("finish_reason").asString()).isEqualTo("upstream_error");
		JsonNode error = status.path("error");
		assertThat(error.path("type").asString()).isEqualTo("upstream_error");
		assertThat(error.path("message").asString()).isEqualTo("oa answered 500 INTERNAL_SERVER_ERROR: The server had an error");
		assertThat(error.path("endpoint").asString()).isEqualTo("oa");
		assertThat(error.path("upstream_status").asInt()).isEqualTo(500);
		assertThat(error.path("upstream_type").asString()).isEqualTo("server_error");
		assertThat(this.breaker.getState()).isEqualTo(CircuitBreaker.State.OPEN);
		// What a dashboard sees: resilience4j_circuitbreaker_state{name="oa",state="open"} 1.
		assertThat(this.meters.get("resilience4j.circuitbreaker.state").tags("name", "oa", "state", "open").gauge().value())
			.isEqualTo(1);

		int requests = upstream.requests().size();
		double rejected = rejectedUnavailable();
		StreamsClient.Reply refused = this.client.start(START);
		assertThat(refused.status()).isEqualTo(503);
		assertThat(refused.headers().getFirst("Retry-After")).isEqualTo("1");
		JsonNode problem = this.client.json(refused);
		assertThat(problem.path("type").asString()).isEqualTo("https://scalpel.dev/problems/upstream_unavailable");
		assertThat(problem.path("endpoint").asString()).isEqualTo("oa");
		assertThat(refused.headers().getFirst("X-Stream-Id")).isNull();
		assertThat(upstream.requests()).hasSize(requests);
		assertThat(rejectedUnavailable()).isEqualTo(rejected + 1);

		// After the wait, one trial call is let through; its success closes the breaker.
		upstream.defaultScript(Script.tokens("Back"));
		Await.atMost(Duration.ofSeconds(2)).until(() -> this.client.start(START).status() == 202);
		Await.atMost(StreamsClient.TIMEOUT).until(() -> this.breaker.getState() == CircuitBreaker.State.CLOSED);
	}

	@Test
	void timeoutsCountAsFailures() {
		upstream.defaultScript(Script.words(10).firstTokenDelay(Duration.ofDays(1)));
		String[] ids = new String[10];
		for (int i = 0; i < ids.length; i++) {
			ids[i] = this.client.startAccepted(START);
		}
		for (String id : ids) {
			awaitEnded(id);
			assertThat(this.client.status(id).path("finish_reason").asString()).isEqualTo("timeout");
		}

		assertThat(this.breaker.getState()).isEqualTo(CircuitBreaker.State.OPEN);
		assertThat(this.client.start(START).status()).isEqualTo(503);
	}

	@Test
	void requestsTheProviderJudgedWrongDoNotCount() {
		upstream.defaultScript(Script.words(1).error(400, "invalid_request_error", "Too long"));
		for (int i = 0; i < 12; i++) {
			awaitEnded(this.client.startAccepted(START));
		}

		assertThat(this.breaker.getState()).isEqualTo(CircuitBreaker.State.CLOSED);
		assertThat(this.breaker.getMetrics().getNumberOfFailedCalls()).isZero();
	}

	private void awaitEnded(String id) {
		Await.atMost(StreamsClient.TIMEOUT)
			.until(() -> !this.client.status(id).path("ended_at").isNull());
	}

	private double rejectedUnavailable() {
		return this.meters.counter("scalpel.streams.rejected", "reason", "upstream_unavailable").count();
	}

}
