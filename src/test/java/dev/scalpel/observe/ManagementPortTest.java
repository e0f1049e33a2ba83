package dev.scalpel.observe;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;

import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.web.server.LocalManagementPort;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.http.HttpMethod;
import org.springframework.http.MediaType;
import org.springframework.web.reactive.function.client.WebClient;

import dev.scalpel.support.Http;
import dev.scalpel.support.Http.Response;
import dev.scalpel.support.ScalpelTest;
import dev.scalpel.support.SseListener;
import dev.scalpel.support.FakeControlledTokenSource;
import dev.scalpel.support.FakeControlledTokenSource.Call;

import static dev.scalpel.support.Http.WAIT;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Operations live on the management port and only there: health (with liveness and readiness
 * groups), info, metrics, prometheus and the {@code streams} endpoint answer on it, the API port
 * answers {@code 404} problem details for all of {@code /actuator/**}. Readiness carries the slot
 * details, stays {@code UP} while every slot is busy and turns {@code OUT_OF_SERVICE} ({@code 503})
 * only when the wait queue is full, while liveness stays {@code UP}. {@code /actuator/streams}
 * shows live streams as operators need them and {@code DELETE} cancels one like the cancel endpoint.
 *
 * <p>Shares its property set (and so its Spring context) with {@code LessonRegressionTest} and
 * {@link PrometheusEndToEndTest}; slot and queue sizes are read from readiness, not assumed.
 */
@ScalpelTest(properties = { "scalpel.slots.max=2", "scalpel.queue.max=4", "scalpel.streams.attach-timeout=1s",
		"scalpel.streams.max-events=64" })
class ManagementPortTest {

	private static final List<String> ENDPOINTS = List.of("/actuator/health", "/actuator/health/liveness",
			"/actuator/health/readiness", "/actuator/info", "/actuator/metrics", "/actuator/prometheus",
			"/actuator/streams");

	private static final String CONTROLLED = "{\"model\":\"controlled\",\"prompt\":\"operate me\"}";

	@LocalServerPort
	int apiPort;

	@LocalManagementPort
	int managementPort;

	@Autowired
	FakeControlledTokenSource upstream;

	WebClient api;

	WebClient management;

	private final List<SseListener> listeners = new ArrayList<>();

	@BeforeEach
	void clients() {
		this.api = Http.client(this.apiPort);
		this.management = Http.client(this.managementPort);
		this.upstream.reset();
	}

	@AfterEach
	void hangUpAndAwaitFreeSlots() {
		this.listeners.forEach(SseListener::disconnect);
		poll().until(() -> {
			JsonNode slots = slots(Http.get(this.management, "/actuator/health/readiness").json());
			return slots.path("in_use").asInt(-1) == 0 && slots.path("queued").asInt(-1) == 0;
		});
		poll().until(() -> this.upstream.open() == 0);
	}

	@Test
	void everyOperationsEndpointAnswersOnTheManagementPort() {
		assertThat(this.managementPort).isNotEqualTo(this.apiPort);
		for (String path : ENDPOINTS) {
			assertThat(Http.get(this.management, path).status()).as(path).isEqualTo(200);
		}
		assertThat(Http.get(this.management, "/actuator/health").json().path("status").asString(""))
			.isEqualTo("UP");
		List<String> names = new ArrayList<>();
		Http.get(this.management, "/actuator/metrics").json().path("names").forEach(name -> names.add(name.asString()));
		assertThat(names).contains("scalpel.slots.capacity", "scalpel.streams.started", "scalpel.slot.release");
		assertThat(Http.get(this.management, "/actuator/prometheus").body()).contains("scalpel_slots_capacity");
	}

	@Test
	void actuatorIsNotServedOnTheApiPort() {
		List<String> paths = new ArrayList<>(ENDPOINTS);
		paths.add("/actuator");
		for (String path : paths) {
			Response response = Http.get(this.api, path);
			assertThat(response.status()).as(path).isEqualTo(404);
			assertThat(response.contentType()).as(path).startsWith(MediaType.APPLICATION_PROBLEM_JSON_VALUE);
			assertThat(response.json().path("status").asInt()).as(path).isEqualTo(404);
			assertThat(response.body()).as(path).doesNotContain("scalpel_slots_capacity");
		}
		Response delete = Http.delete(this.api, "/actuator/streams/str_00000000000000000000000000000000");
		assertThat(delete.status()).isEqualTo(404);
		assertThat(delete.contentType()).startsWith(MediaType.APPLICATION_PROBLEM_JSON_VALUE);
	}

	@Test
	void infoCarriesBuildAndGitSections() {
		JsonNode info = Http.get(this.management, "/actuator/info").json();
		assertThat(info.path("build").path("artifact").asString("")).isEqualTo("scalpel");
		assertThat(info.path("build").path("version").asString("")).isNotBlank();
		assertThat(info.path("git").path("commit").path("id").asString("")).isNotBlank();
	}

	@Test
	void readinessIncludesSlotDetailsAndLivenessDoesNot() {
		JsonNode readiness = Http.get(this.management, "/actuator/health/readiness").json();
		assertThat(readiness.path("status").asString("")).isEqualTo("UP");
		JsonNode slots = readiness.path("components").path("slots");
		assertThat(slots.path("status").asString("")).isEqualTo("UP");
		JsonNode details = slots.path("details");
		assertThat(details.propertyNames()).contains("capacity", "in_use", "queued", "queue_max");
		assertThat(details.path("capacity").asInt()).isPositive();
		assertThat(details.path("in_use").asInt(-1)).isZero();
		assertThat(details.path("queued").asInt(-1)).isZero();
		assertThat(details.path("queue_max").asInt()).isPositive();

		JsonNode liveness = Http.get(this.management, "/actuator/health/liveness").json();
		assertThat(liveness.path("status").asString("")).isEqualTo("UP");
		assertThat(liveness.path("components").has("slots")).isFalse();
	}

	@Test
	void readinessStaysUpWhileEverySlotIsBusyAndTheQueueHasRoom() {
		JsonNode idle = slots(Http.get(this.management, "/actuator/health/readiness").json());
		int capacity = idle.path("capacity").asInt();
		int queueMax = idle.path("queue_max").asInt();
		startControlled(capacity + queueMax - 1);
		poll().until(() -> slots(readiness().json()).path("queued").asInt(-1) == queueMax - 1);

		Response readiness = readiness();
		assertThat(readiness.status()).isEqualTo(200);
		assertThat(readiness.json().path("status").asString("")).isEqualTo("UP");
		JsonNode slots = slots(readiness.json());
		assertThat(slots.path("in_use").asInt()).isEqualTo(capacity);
		assertThat(slots.path("queued").asInt()).isEqualTo(queueMax - 1);
		assertThat(readiness.json().path("components").path("slots").path("status").asString("")).isEqualTo("UP");
	}

	@Test
	void readinessIsOutOfServiceWhileTheQueueIsFullAndLivenessStaysUp() {
		JsonNode idle = slots(Http.get(this.management, "/actuator/health/readiness").json());
		int capacity = idle.path("capacity").asInt();
		int queueMax = idle.path("queue_max").asInt();
		List<SseListener> started = startControlled(capacity + queueMax);
		poll().until(() -> slots(readiness().json()).path("queued").asInt(-1) == queueMax);

		Response readiness = readiness();
		assertThat(readiness.status()).isEqualTo(503);
		assertThat(readiness.json().path("status").asString("")).isEqualTo("OUT_OF_SERVICE");
		assertThat(readiness.json().path("components").path("slots").path("status").asString(""))
			.isEqualTo("OUT_OF_SERVICE");
		assertThat(slots(readiness.json()).path("in_use").asInt()).isEqualTo(capacity);
		Response liveness = Http.get(this.management, "/actuator/health/liveness");
		assertThat(liveness.status()).isEqualTo(200);
		assertThat(liveness.json().path("status").asString("")).isEqualTo("UP");

		// One place in the queue frees up: ready again.
		String queued = started.get(started.size() - 1).awaitId(WAIT);
		assertThat(Http.post(this.api, "/v1/streams/" + queued + "/cancel", MediaType.APPLICATION_JSON, "{}").status())
			.isEqualTo(200);
		poll().until(() -> readiness().status() == 200);
		assertThat(readiness().json().path("status").asString("")).isEqualTo("UP");
	}

	@Test
	void streamsEndpointListsLiveStreamsWithSlotHoldTimeListenersAndLastEventId() {
		int capacity = slots(readiness().json()).path("capacity").asInt();
		SseListener first = track(SseListener.start(this.api, CONTROLLED));
		String running = first.awaitId(WAIT);
		Call call = this.upstream.nextCall(WAIT);
		call.token("a").token("b");
		poll().until(() -> first.types().size() == 4);
		SseListener second = track(SseListener.attach(this.api, running));
		poll().until(() -> second.types().size() == 4);
		startControlled(capacity - 1);
		SseListener waiting = track(SseListener.start(this.api, CONTROLLED));
		String queued = waiting.awaitId(WAIT);
		poll().until(() -> waiting.types().contains("stream.queued"));

		JsonNode streams = Http.get(this.management, "/actuator/streams").json();
		assertThat(streams.path("count").asInt()).isEqualTo(capacity + 1);
		assertThat(streams.path("streams").size()).isEqualTo(capacity + 1);

		JsonNode inProgress = entry(streams, running);
		assertThat(inProgress).as("entry of %s in %s", running, streams).isNotNull();
		assertThat(inProgress.path("status").asString("")).isEqualTo("in_progress");
		assertThat(inProgress.path("model").asString("")).isEqualTo("controlled");
		assertThat(inProgress.path("background").asBoolean(true)).isFalse();
		assertThat(inProgress.path("age_seconds").isNumber()).as("age_seconds in %s", inProgress).isTrue();
		assertThat(inProgress.path("age_seconds").asDouble()).isPositive();
		assertThat(inProgress.path("slot_held_for_seconds").isNumber()).as("slot_held_for_seconds in %s", inProgress)
			.isTrue();
		assertThat(inProgress.path("slot_held_for_seconds").asDouble())
			.isBetween(0.0, inProgress.path("age_seconds").asDouble());
		assertThat(inProgress.path("listeners").asInt()).isEqualTo(2);
		assertThat(inProgress.path("last_event_id").asLong()).isEqualTo(4);

		JsonNode waitingEntry = entry(streams, queued);
		assertThat(waitingEntry).as("entry of %s in %s", queued, streams).isNotNull();
		assertThat(waitingEntry.path("status").asString("")).isEqualTo("queued");
		assertThat(waitingEntry.has("slot_held_for_seconds")).isTrue();
		assertThat(waitingEntry.path("slot_held_for_seconds").isNull()).isTrue();
		assertThat(waitingEntry.path("listeners").asInt()).isEqualTo(1);
		assertThat(waitingEntry.path("last_event_id").asLong()).isEqualTo(2);
	}

	@Test
	void deletingAStreamOnTheManagementPortCancelsItAndTellsItsListener() {
		SseListener listener = track(SseListener.start(this.api, CONTROLLED));
		String id = listener.awaitId(WAIT);
		Call call = this.upstream.nextCall(WAIT);
		call.token("a");
		listener.awaitEvent("token", WAIT);

		Response deleted = Http.delete(this.management, "/actuator/streams/" + id);
		assertThat(deleted.status()).isEqualTo(200);
		assertThat(deleted.json().path("id").asString("")).isEqualTo(id);
		assertThat(deleted.json().path("status").asString("")).isEqualTo("cancelled");

		listener.awaitCompletion(WAIT);
		assertThat(listener.types()).endsWith("stream.cancelled");
		assertThat(listener.lastData()).contains("\"finish_reason\":\"cancel_requested\"");
		JsonNode status = Http.get(this.api, "/v1/streams/" + id).json();
		assertThat(status.path("status").asString("")).isEqualTo("cancelled");
		assertThat(status.path("finish_reason").asString("")).isEqualTo("cancel_requested");
		assertThat(call.cancelled()).isTrue();
		assertThat(entry(Http.get(this.management, "/actuator/streams").json(), id)).isNull();
	}

	@Test
	void deletingAnUnknownStreamIsNotFound() {
		for (String id : List.of("str_00000000000000000000000000000000", "not-a-stream-id")) {
			Response response = Http.exchange(this.management, HttpMethod.DELETE, "/actuator/streams/" + id, null,
					null);
			assertThat(response.status()).as(id).isEqualTo(404);
			assertThat(response.contentType()).as(id).startsWith(MediaType.APPLICATION_PROBLEM_JSON_VALUE);
		}
	}

	// --- helpers

	private List<SseListener> startControlled(int count) {
		List<SseListener> started = new ArrayList<>();
		for (int i = 0; i < count; i++) {
			SseListener listener = track(SseListener.start(this.api, CONTROLLED));
			listener.awaitId(WAIT);
			started.add(listener);
		}
		return started;
	}

	private SseListener track(SseListener listener) {
		this.listeners.add(listener);
		return listener;
	}

	private Response readiness() {
		return Http.get(this.management, "/actuator/health/readiness");
	}

	private static JsonNode slots(JsonNode health) {
		return health.path("components").path("slots").path("details");
	}

	private static @Nullable JsonNode entry(JsonNode streams, String id) {
		for (JsonNode entry : streams.path("streams")) {
			if (id.equals(entry.path("id").asString(""))) {
				return entry;
			}
		}
		return null;
	}

	/** Awaitility for conditions read over HTTP: bounded, polling every 20 ms. */
	private static ConditionFactory poll() {
		return Awaitility.await().atMost(WAIT).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(20));
	}

}
