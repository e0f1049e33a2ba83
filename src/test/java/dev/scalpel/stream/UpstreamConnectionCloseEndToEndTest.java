package dev.scalpel.stream;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import tools.jackson.databind.JsonNode;

import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

import dev.scalpel.support.Await;
import dev.scalpel.support.EventRecorder;
import dev.scalpel.support.ScalpelTest;
import dev.scalpel.support.StreamsClient;
import dev.scalpel.upstream.fake.TestBlackhole;
import dev.scalpel.upstream.fake.Endpoints;
import dev.scalpel.upstream.fake.ReceivedRequest;
import dev.scalpel.upstream.fake.Script;
import dev.scalpel.upstream.fake.TestUpstream;
import dev.scalpel.upstream.fake.UpstreamConnection;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The promise of the product, proved on the wire: whatever ends a generation (a cancel, the client
 * leaving, a timeout) closes its upstream connection within 100 ms, as a real HTTP server records it,
 * and frees its slot, for both provider protocols and in every phase of the call:
 * <ul>
 * <li>{@code CONNECTING}: the TCP connect is still pending (a {@link TestBlackhole} never accepts); the
 * pending connect is abandoned (no SYN_SENT socket left) and, for a timeout, the connect timeout fired;
 * <li>{@code AWAITING_HEADERS}: the request was sent, the provider has not answered yet;
 * <li>{@code BEFORE_FIRST_TOKEN}: the provider answered and opened its stream, no token yet;
 * <li>{@code MID_STREAM}: tokens are flowing (for a timeout: they stopped, and the idle timeout fired).
 * </ul>
 * Every case ends its call early, so no connection may be left open at the end of the class: not even
 * an idle one in the pool.
 */
@ScalpelTest(properties = { "scalpel.upstream.connect-timeout=400ms", "scalpel.upstream.first-token-timeout=600ms",
		"scalpel.upstream.idle-timeout=600ms", "scalpel.upstream.retry.max-attempts=1" })
class UpstreamConnectionCloseEndToEndTest extends ApiEndToEndTest {

	private static final Duration WITHIN = Duration.ofMillis(100);

	private static final TestUpstream upstream = TestUpstream.start();

	private static final TestBlackhole blackhole = TestBlackhole.open();

	enum Provider {

		OPENAI("openai"), ANTHROPIC("anthropic");

		final String type;

		Provider(String type) {
			this.type = type;
		}

	}

	enum Phase {

		CONNECTING, AWAITING_HEADERS, BEFORE_FIRST_TOKEN, MID_STREAM

	}

	enum Trigger {

		CANCEL, DISCONNECT, TIMEOUT

	}

	@DynamicPropertySource
	static void endpoints(DynamicPropertyRegistry registry) {
		int index = 0;
		for (Provider provider : Provider.values()) {
			endpoint(registry, index++, provider.type, provider.type, upstream.baseUrl());
			endpoint(registry, index++, provider.type + "-hole", provider.type, blackhole.baseUrl());
		}
	}

	private static void endpoint(DynamicPropertyRegistry registry, int index, String name, String type, String baseUrl) {
		Endpoints.register(registry, index, name, type, () -> baseUrl, "test-key-" + name, "model-of-" + name);
	}

	static List<Arguments> cases() {
		List<Arguments> cases = new ArrayList<>();
		for (Provider provider : Provider.values()) {
			for (Phase phase : Phase.values()) {
				for (Trigger trigger : Trigger.values()) {
					cases.add(Arguments.of(provider, phase, trigger));
				}
			}
		}
		return cases;
	}

	@AfterAll
	static void noUpstreamConnectionIsLeftOpen() {
		try {
			upstream.awaitNoOpenConnections(Duration.ofSeconds(5));
			assertThat(blackhole.pendingConnects()).isZero();
		}
		finally {
			upstream.close();
			blackhole.close();
		}
	}

	private static boolean warm;

	/**
	 * Once, before the first case: a stream of each provider cancelled while it connects (or has given up
	 * connecting) and one cancelled while streaming, untimed. The cases time a running service; on a JVM
	 * that had just started, the first cancel's own round trip (loading its classes) took over 100 ms,
	 * and the first connect timed out before the test saw it pending.
	 */
	@BeforeEach
	void warmUp() {
		if (warm) {
			return;
		}
		for (Provider provider : Provider.values()) {
			for (String endpoint : new String[] { provider.type + "-hole", provider.type }) {
				boolean connects = !endpoint.endsWith("-hole");
				upstream.reset();
				if (connects) {
					upstream.enqueue(Script.words(1000).interval(Duration.ofMillis(50)));
				}
				EventRecorder listener = this.client
					.open("{\"model\":\"model-of-" + endpoint + "\",\"prompt\":\"Warm up\"}");
				String id = listener.awaitEvent("stream.started").streamId();
				if (connects) {
					listener.awaitEvent("token");
				}
				this.client.cancel(id);
				Await.atMost(StreamsClient.TIMEOUT)
					.until(() -> this.slots.inUse() == 0 && blackhole.pendingConnects() == 0
							&& upstream.openConnections().isEmpty());
			}
		}
		warm = true;
	}

	@ParameterizedTest(name = "{0} {1} {2}")
	@MethodSource("cases")
	void endingTheGenerationClosesTheUpstreamConnectionAndFreesTheSlot(Provider provider, Phase phase,
			Trigger trigger) {
		upstream.reset();
		String endpoint = (phase == Phase.CONNECTING) ? provider.type + "-hole" : provider.type;
		upstream.enqueue(script(phase, trigger));
		EventRecorder listener = this.client
			.open("{\"model\":\"model-of-" + endpoint + "\",\"prompt\":\"Tell me everything\"}");
		String id = listener.awaitEvent("stream.started").streamId();

		// Reach the phase.
		UpstreamConnection connection = null;
		long requestedAt = System.nanoTime();
		if (phase == Phase.CONNECTING) {
			Await.atMost(StreamsClient.TIMEOUT).until(() -> blackhole.pendingConnects() == 1);
		}
		else {
			ReceivedRequest request = upstream.awaitRequest(StreamsClient.TIMEOUT);
			connection = request.connection();
			requestedAt = request.receivedNanos();
			assertThat(request.json().path("model").asString()).isEqualTo("model-of-" + endpoint);
			if (phase == Phase.MID_STREAM) {
				listener.awaitEvent("token");
			}
		}

		// End it.
		long triggeredAt = switch (trigger) {
			case CANCEL -> {
				long now = System.nanoTime();
				this.client.cancel(id);
				yield now;
			}
			case DISCONNECT -> listener.disconnect();
			case TIMEOUT -> {
				listener.awaitCompletion(Duration.ofSeconds(3));
				yield System.nanoTime();
			}
		};

		// The connection is closed (or the connect abandoned) and the slot free, within 100 ms.
		if (connection == null) {
			Await.atMost(remaining(triggeredAt)).until(() -> blackhole.pendingConnects() == 0);
		}
		else {
			Duration closedAfter = connection.awaitClosed(Duration.ofSeconds(1), triggeredAt);
			assertThat(closedAfter).as("from the trigger to the upstream connection closing").isLessThan(WITHIN);
			assertThat(connection.closedByClient()).isTrue();
		}
		Await.atMost(remaining(triggeredAt)).until(() -> this.slots.inUse() == 0);

		JsonNode status = this.client.status(id);
		switch (trigger) {
			case CANCEL -> assertThat(reason(status)).isEqualTo("cancelled/cancel_requested");
			case DISCONNECT -> assertThat(reason(status)).isEqualTo("cancelled/client_disconnected");
			case TIMEOUT -> {
				assertThat(reason(status)).isEqualTo("failed/timeout");
				assertThat(status.path("error").path("type").asString()).isEqualTo("timeout");
				// The time limit of the phase ended it, not something sooner or later.
				Duration limit = (phase == Phase.CONNECTING) ? Duration.ofMillis(400) : Duration.ofMillis(600);
				if (connection != null) {
					Duration open = Duration.ofNanos(connection.closedNanos() - requestedAt);
					assertThat(open).isGreaterThanOrEqualTo(limit.minusMillis(50));
					assertThat(open).isLessThan(limit.plus(Duration.ofSeconds(1)));
				}
				if (phase == Phase.CONNECTING) {
					assertThat(status.path("error").path("message").asString()).contains("connect");
				}
			}
		}
	}

	/** What is left of the 100 ms since the trigger; none left fails the case, saying so. */
	private static Duration remaining(long triggeredAt) {
		Duration elapsed = Duration.ofNanos(System.nanoTime() - triggeredAt);
		assertThat(elapsed).as("time since the trigger").isLessThan(WITHIN);
		return WITHIN.minus(elapsed);
	}

	private static Script script(Phase phase, Trigger trigger) {
		return switch (phase) {
			case CONNECTING -> Script.words(10);
			case AWAITING_HEADERS -> Script.words(10).headersDelay(Duration.ofDays(1));
			case BEFORE_FIRST_TOKEN -> Script.words(10).firstTokenDelay(Duration.ofDays(1));
			case MID_STREAM -> (trigger == Trigger.TIMEOUT) ? Script.words(100).interval(Duration.ofMillis(10)).hangAfter(3)
					: Script.words(1000).interval(Duration.ofMillis(50));
		};
	}

	private static String reason(JsonNode status) {
		return status.path("status").asString() + "/" + status.path("finish_reason").asString();
	}

}
