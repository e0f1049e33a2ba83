package dev.scalpel.observe;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

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
import org.springframework.http.MediaType;
import org.springframework.web.reactive.function.client.WebClient;

import dev.scalpel.support.Http;
import dev.scalpel.support.Http.Response;
import dev.scalpel.stream.FinishReason;
import dev.scalpel.support.ScalpelTest;
import dev.scalpel.support.SseListener;
import dev.scalpel.support.FakeControlledTokenSource;
import dev.scalpel.support.FakeControlledTokenSource.Call;

import static dev.scalpel.support.Http.WAIT;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code /actuator/prometheus} on the management port tells the truth: every meter of API.md's
 * Operations table is exported under its Prometheus name, and after a known mix of traffic driven
 * through the API port over real sockets (completions, cancels, client disconnects, upstream
 * failures, an overload and invalid starts) each counter and timer count has moved by exactly that
 * mix, the gauges are back to 0, no leak was reclaimed, and no label carries a stream id.
 *
 * <p>Shares its property set (and so its Spring context) with {@code LessonRegressionTest} and
 * {@link ManagementPortTest}; sizes are read from the running service, not assumed.
 */
@ScalpelTest(properties = { "scalpel.slots.max=2", "scalpel.queue.max=4", "scalpel.streams.attach-timeout=1s",
		"scalpel.streams.max-events=64" })
class PrometheusEndToEndTest {

	private static final List<String> TRIGGERS = List.of("cancel", "disconnect", "complete", "error", "timeout",
			"shutdown");

	private static final List<String> TIMERS = List.of("scalpel_queue_wait_seconds", "scalpel_stream_ttft_seconds",
			"scalpel_slot_release_seconds", "scalpel_eventloop_delay_seconds");

	private static final String CONTROLLED = "{\"model\":\"controlled\",\"prompt\":\"observe me\"}";

	/** Simulated streams that end {@code length} after exactly {@link #SIMULATED_TOKENS} tokens. */
	private static final int SIMULATED = 2;

	private static final int SIMULATED_TOKENS = 4;

	private static final int CANCELLED = 2;

	private static final int CANCELLED_TOKENS = 2;

	private static final int DISCONNECTED = 2;

	private static final int DISCONNECTED_TOKENS = 3;

	private static final int FAILED = 2;

	private static final int FAILED_TOKENS = 1;

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
	void quietService() {
		this.api = Http.client(this.apiPort);
		this.management = Http.client(this.managementPort);
		// Earlier tests in this context must not end streams while this one counts.
		poll().until(() -> Http.get(this.management, "/actuator/streams").json().path("count").asInt(-1) == 0);
		poll().until(() -> idle(scrape()));
		this.upstream.reset();
	}

	@AfterEach
	void hangUp() {
		this.listeners.forEach(SseListener::disconnect);
	}

	@Test
	void everyMeterOfTheOperationsTableIsExportedUnderItsPrometheusName() {
		Response response = Http.get(this.management, "/actuator/prometheus");
		assertThat(response.status()).isEqualTo(200);
		assertThat(response.contentType()).startsWith("text/plain");
		Scrape scrape = Scrape.parse(response.body());

		assertThat(scrape.types()).containsEntry("scalpel_slots_capacity", "gauge")
			.containsEntry("scalpel_slots_in_use", "gauge")
			.containsEntry("scalpel_queue_size", "gauge")
			.containsEntry("scalpel_listeners_active", "gauge")
			.containsEntry("scalpel_upstream_active", "gauge")
			.containsEntry("scalpel_streams_retained_bytes", "gauge")
			.containsEntry("scalpel_streams_started_total", "counter")
			.containsEntry("scalpel_streams_finished_total", "counter")
			.containsEntry("scalpel_streams_rejected_total", "counter")
			.containsEntry("scalpel_leaks_reclaimed_total", "counter")
			.containsEntry("scalpel_tokens_total", "counter")
			.containsEntry("scalpel_log_dropped_total", "counter")
			.containsEntry("scalpel_queue_wait_seconds", "histogram")
			.containsEntry("scalpel_stream_ttft_seconds", "histogram")
			.containsEntry("scalpel_slot_release_seconds", "histogram")
			.containsEntry("scalpel_eventloop_delay_seconds", "histogram");

		assertThat(scrape.value("scalpel_slots_capacity")).isEqualTo(slotDetail("capacity"));
		for (String gauge : List.of("scalpel_slots_in_use", "scalpel_queue_size", "scalpel_listeners_active",
				"scalpel_upstream_active")) {
			assertThat(scrape.has(gauge)).as(gauge).isTrue();
		}
		assertThat(scrape.has("scalpel_streams_retained_bytes", "state", "full")).isTrue();
		assertThat(scrape.has("scalpel_streams_retained_bytes", "state", "compacted")).isTrue();
		assertThat(scrape.has("scalpel_streams_started_total")).isTrue();
		assertThat(scrape.has("scalpel_tokens_total")).isTrue();
		assertThat(scrape.has("scalpel_log_dropped_total")).isTrue();
		for (String reason : List.of("overloaded", "invalid", "shutting_down", "upstream_unavailable",
				"cluster_unavailable")) {
			assertThat(scrape.has("scalpel_streams_rejected_total", "reason", reason)).as(reason).isTrue();
		}
		for (String resource : List.of("slot", "stream", "listener")) {
			assertThat(scrape.has("scalpel_leaks_reclaimed_total", "resource", resource)).as(resource).isTrue();
		}
		Map<String, String> reasons = Map.ofEntries(Map.entry("stop", "completed"), Map.entry("length", "completed"),
				Map.entry("tool_calls", "completed"), Map.entry("content_filter", "completed"),
				Map.entry("cancel_requested", "cancelled"), Map.entry("client_disconnected", "cancelled"),
				Map.entry("never_attached", "cancelled"), Map.entry("shutdown", "cancelled"),
				Map.entry("upstream_error", "failed"), Map.entry("timeout", "failed"),
				Map.entry("queue_timeout", "failed"), Map.entry("owner_lost", "failed"),
				Map.entry("internal_error", "failed"));
		reasons.forEach((reason, status) -> assertThat(
				scrape.has("scalpel_streams_finished_total", "status", status, "reason", reason))
			.as(status + "/" + reason)
			.isTrue());

		for (String timer : List.of("scalpel_queue_wait_seconds", "scalpel_stream_ttft_seconds")) {
			assertThat(scrape.has(timer + "_count")).as(timer).isTrue();
			assertThat(scrape.has(timer + "_sum")).as(timer).isTrue();
			assertThat(scrape.has(timer + "_max")).as(timer).isTrue();
			assertThat(scrape.has(timer + "_bucket", "le", "+Inf")).as(timer).isTrue();
			assertThat(scrape.select(timer + "_bucket")).as(timer).hasSizeGreaterThan(10);
		}
		for (String trigger : TRIGGERS) {
			String timer = "scalpel_slot_release_seconds";
			assertThat(scrape.has(timer + "_count", "trigger", trigger)).as(trigger).isTrue();
			assertThat(scrape.has(timer + "_sum", "trigger", trigger)).as(trigger).isTrue();
			assertThat(scrape.has(timer + "_max", "trigger", trigger)).as(trigger).isTrue();
			assertThat(scrape.has(timer + "_bucket", "trigger", trigger, "le", "+Inf")).as(trigger).isTrue();
		}
	}

	@Test
	void timersPublishTheirPercentilesAsQuantileLinesBesidesTheHistogram() {
		// StreamMetrics asks every timer for percentiles 0.5, 0.95 and 0.99 as well as a histogram. A
		// Prometheus histogram family cannot carry quantile samples, so they must come as their own
		// lines (any family of the timer's name with a quantile label), or they are silently lost.
		SseListener listener = listen(simulated());
		listener.awaitCompletion(WAIT);
		Scrape scrape = scrape();
		for (String timer : TIMERS) {
			List<Sample> quantiles = scrape.samples()
				.stream()
				.filter(sample -> sample.name().startsWith(timer.substring(0, timer.length() - "_seconds".length())))
				.filter(sample -> sample.labels().containsKey("quantile"))
				.toList();
			assertThat(quantiles).as("quantile lines of %s", timer)
				.extracting(sample -> sample.labels().get("quantile"))
				.contains("0.5", "0.95", "0.99");
		}
		for (String trigger : TRIGGERS) {
			assertThat(scrape.samples()).as("quantile lines of scalpel_slot_release_seconds{trigger=%s}", trigger)
				.anySatisfy(sample -> {
					assertThat(sample.name()).startsWith("scalpel_slot_release");
					assertThat(sample.labels()).containsEntry("trigger", trigger).containsEntry("quantile", "0.99");
				});
		}
	}

	@Test
	void countersMoveByExactlyTheTrafficDrivenThroughTheApiAndGaugesReturnToZero() {
		int capacity = slotDetail("capacity");
		int queueMax = slotDetail("queue_max");
		assertThat(capacity).isPositive();
		assertThat(queueMax).isPositive();
		int filled = capacity + queueMax;
		Scrape before = scrape();

		completeSimulatedStreams();
		cancelStreamsThroughTheCancelEndpoint();
		disconnectListeners();
		failStreamsUpstream();
		overloadWith(filled);
		startInvalidStreams();

		poll().until(() -> idle(scrape()));
		Scrape after = scrape();

		int started = SIMULATED + CANCELLED + DISCONNECTED + FAILED + filled;
		assertThat(after.delta(before, "scalpel_streams_started_total")).isEqualTo(started);
		Map<String, Integer> finished = new LinkedHashMap<>();
		finished.put("completed/length", SIMULATED);
		finished.put("completed/stop", filled);
		finished.put("cancelled/cancel_requested", CANCELLED);
		finished.put("cancelled/client_disconnected", DISCONNECTED);
		finished.put("failed/upstream_error", FAILED);
		for (Sample sample : after.select("scalpel_streams_finished_total")) {
			String key = sample.labels().get("status") + "/" + sample.labels().get("reason");
			assertThat(after.delta(before, sample)).as("finished %s", key)
				.isEqualTo(finished.getOrDefault(key, 0).longValue());
		}
		assertThat(after.select("scalpel_streams_finished_total")).hasSize(FinishReason.values().length);

		assertThat(after.delta(before, "scalpel_streams_rejected_total", "reason", "overloaded")).isEqualTo(1);
		assertThat(after.delta(before, "scalpel_streams_rejected_total", "reason", "invalid")).isEqualTo(4);
		assertThat(after.delta(before, "scalpel_streams_rejected_total", "reason", "shutting_down")).isZero();

		int tokens = SIMULATED * SIMULATED_TOKENS + CANCELLED * CANCELLED_TOKENS
				+ DISCONNECTED * DISCONNECTED_TOKENS + FAILED * FAILED_TOKENS + filled;
		assertThat(after.delta(before, "scalpel_tokens_total")).isEqualTo(tokens);

		Map<String, Integer> released = Map.of("complete", SIMULATED + filled, "cancel", CANCELLED, "disconnect",
				DISCONNECTED, "error", FAILED, "timeout", 0, "shutdown", 0);
		released.forEach((trigger, count) -> {
			String[] tag = { "trigger", trigger };
			assertThat(after.delta(before, "scalpel_slot_release_seconds_count", tag)).as("released on %s", trigger)
				.isEqualTo(count.longValue());
			assertThat(after.delta(before, "scalpel_slot_release_seconds_bucket", "trigger", trigger, "le", "+Inf"))
				.as("+Inf bucket on %s", trigger)
				.isEqualTo(count.longValue());
			if (count > 0) {
				assertThat(after.value("scalpel_slot_release_seconds_sum", tag)
						- before.value("scalpel_slot_release_seconds_sum", tag)).as("time on %s", trigger)
					.isPositive();
			}
		});
		// Every started stream got its slot and its first token.
		assertThat(after.delta(before, "scalpel_queue_wait_seconds_count")).isEqualTo(started);
		assertThat(after.delta(before, "scalpel_stream_ttft_seconds_count")).isEqualTo(started);

		for (String gauge : List.of("scalpel_slots_in_use", "scalpel_queue_size", "scalpel_upstream_active",
				"scalpel_listeners_active")) {
			assertThat(after.value(gauge)).as(gauge).isZero();
		}
		assertThat(after.select("scalpel_leaks_reclaimed_total")).hasSize(3)
			.allSatisfy(leak -> assertThat(leak.value()).as("leaks of %s", leak.labels()).isZero());
		assertNoStreamIdInScalpelLabels(after);
	}

	@Test
	void noScalpelLabelValueLooksLikeAStreamId() {
		SseListener completed = listen(simulated());
		completed.awaitCompletion(WAIT);
		SseListener cancelled = listen(CONTROLLED);
		String id = cancelled.awaitId(WAIT);
		this.upstream.nextCall(WAIT).token("a");
		cancelled.awaitEvent("token", WAIT);
		assertThat(Http.post(this.api, "/v1/streams/" + id + "/cancel", MediaType.APPLICATION_JSON, "{}").status())
			.isEqualTo(200);
		cancelled.awaitCompletion(WAIT);

		Scrape scrape = scrape();
		assertThat(scrape.select("scalpel_streams_started_total")).isNotEmpty();
		assertNoStreamIdInScalpelLabels(scrape);
		assertThat(Http.get(this.management, "/actuator/prometheus").body()).doesNotContain(id);
	}

	// --- the mix

	private void completeSimulatedStreams() {
		for (int i = 0; i < SIMULATED; i++) {
			SseListener listener = listen(simulated());
			listener.awaitCompletion(WAIT);
			assertThat(listener.types()).endsWith("stream.completed");
			assertThat(listener.types()).filteredOn("token"::equals).hasSize(SIMULATED_TOKENS);
			assertThat(listener.lastData()).contains("\"finish_reason\":\"length\"");
		}
	}

	private void cancelStreamsThroughTheCancelEndpoint() {
		for (int i = 0; i < CANCELLED; i++) {
			SseListener listener = listen(CONTROLLED);
			String id = listener.awaitId(WAIT);
			Call call = this.upstream.nextCall(WAIT);
			emit(call, CANCELLED_TOKENS);
			awaitTokens(listener, CANCELLED_TOKENS);
			Response cancel = Http.post(this.api, "/v1/streams/" + id + "/cancel", MediaType.APPLICATION_JSON, "{}");
			assertThat(cancel.status()).isEqualTo(200);
			assertThat(cancel.json().path("status").asString("")).isEqualTo("cancelled");
			assertThat(cancel.json().path("finish_reason").asString("")).isEqualTo("cancel_requested");
			listener.awaitCompletion(WAIT);
			assertThat(listener.types()).endsWith("stream.cancelled");
			assertThat(call.cancelled()).isTrue();
		}
	}

	private void disconnectListeners() {
		for (int i = 0; i < DISCONNECTED; i++) {
			SseListener listener = listen(CONTROLLED);
			String id = listener.awaitId(WAIT);
			Call call = this.upstream.nextCall(WAIT);
			emit(call, DISCONNECTED_TOKENS);
			awaitTokens(listener, DISCONNECTED_TOKENS);
			listener.disconnect();
			poll().until(() -> {
				JsonNode status = Http.get(this.api, "/v1/streams/" + id).json();
				return "cancelled".equals(status.path("status").asString(""))
						&& "client_disconnected".equals(status.path("finish_reason").asString(""));
			});
			poll().until(call::cancelled);
		}
	}

	private void failStreamsUpstream() {
		for (int i = 0; i < FAILED; i++) {
			SseListener listener = listen(CONTROLLED);
			listener.awaitId(WAIT);
			Call call = this.upstream.nextCall(WAIT);
			emit(call, FAILED_TOKENS);
			awaitTokens(listener, FAILED_TOKENS);
			call.fail(new IllegalStateException("upstream broke"));
			listener.awaitCompletion(WAIT);
			assertThat(listener.types()).endsWith("stream.failed");
			assertThat(listener.lastData()).contains("\"finish_reason\":\"upstream_error\"");
		}
	}

	/**
	 * Takes every slot and every queue place, has one more start refused with {@code 429}, then lets
	 * each stream that holds a slot send one token and finish, so that the queued ones run in turn.
	 */
	private void overloadWith(int filled) {
		poll().until(() -> idle(scrape()));
		List<SseListener> listeners = new ArrayList<>();
		for (int i = 0; i < filled; i++) {
			SseListener listener = listen(CONTROLLED);
			listener.awaitId(WAIT);
			listeners.add(listener);
		}
		Deque<Call> running = new ArrayDeque<>();
		for (int i = 0; i < slotDetail("capacity"); i++) {
			running.add(this.upstream.nextCall(WAIT));
		}
		poll().until(() -> scrape().value("scalpel_queue_size") == filled - running.size());

		Response refused = Http.refusedStart(this.api, CONTROLLED);
		assertThat(refused.status()).isEqualTo(429);
		assertThat(refused.headers().getFirst("Retry-After")).isNotBlank();
		assertThat(refused.contentType()).startsWith(MediaType.APPLICATION_PROBLEM_JSON_VALUE);
		assertThat(refused.json().path("type").asString("")).endsWith("/overloaded");

		for (int i = 0; i < filled; i++) {
			Call call = running.isEmpty() ? this.upstream.nextCall(WAIT) : running.poll();
			call.token("z").finish("stop");
		}
		for (SseListener listener : listeners) {
			listener.awaitCompletion(WAIT);
			assertThat(listener.types()).endsWith("stream.completed");
		}
	}

	private void startInvalidStreams() {
		Response malformed = Http.post(this.api, "/v1/streams", MediaType.APPLICATION_JSON, "{\"prompt\":");
		Response outOfRange = Http.post(this.api, "/v1/streams", MediaType.APPLICATION_JSON,
				"{\"prompt\":\"hi\",\"max_tokens\":0}");
		Response unknownModel = Http.post(this.api, "/v1/streams", MediaType.APPLICATION_JSON,
				"{\"model\":\"no-such-model\",\"prompt\":\"hi\"}");
		Response wrongType = Http.post(this.api, "/v1/streams", MediaType.TEXT_PLAIN, "hi");
		assertThat(List.of(malformed, outOfRange, unknownModel, wrongType)).extracting(Response::status)
			.containsExactly(400, 400, 404, 415);
		assertThat(List.of(malformed, outOfRange, unknownModel, wrongType)).extracting(Response::contentType)
			.allSatisfy(type -> assertThat(type).startsWith(MediaType.APPLICATION_PROBLEM_JSON_VALUE));
	}

	// --- helpers

	private SseListener listen(String body) {
		SseListener listener = SseListener.start(this.api, body);
		this.listeners.add(listener);
		return listener;
	}

	private static String simulated() {
		return "{\"model\":\"simulated\",\"prompt\":\"count me\",\"max_tokens\":" + SIMULATED_TOKENS + "}";
	}

	private static void emit(Call call, int tokens) {
		for (int i = 0; i < tokens; i++) {
			call.token("t" + i);
		}
	}

	private static void awaitTokens(SseListener listener, int tokens) {
		poll().until(() -> listener.types().stream().filter("token"::equals).count() == tokens);
	}

	/** A detail of the {@code slots} health component: readiness, not metrics, says how big things are. */
	private int slotDetail(String name) {
		return Http.get(this.management, "/actuator/health/readiness")
			.json()
			.path("components")
			.path("slots")
			.path("details")
			.path(name)
			.asInt(-1);
	}

	private Scrape scrape() {
		Response response = Http.get(this.management, "/actuator/prometheus");
		assertThat(response.status()).isEqualTo(200);
		return Scrape.parse(response.body());
	}

	private static boolean idle(Scrape scrape) {
		return scrape.value("scalpel_slots_in_use") == 0 && scrape.value("scalpel_queue_size") == 0
				&& scrape.value("scalpel_upstream_active") == 0 && scrape.value("scalpel_listeners_active") == 0;
	}

	private static void assertNoStreamIdInScalpelLabels(Scrape scrape) {
		assertThat(scrape.samples()).filteredOn(sample -> sample.name().startsWith("scalpel_"))
			.isNotEmpty()
			.allSatisfy(sample -> assertThat(sample.labels().values()).as("labels of %s", sample.name())
				.noneMatch(value -> value.contains("str_")));
	}

	/** Awaitility for conditions read over HTTP: bounded, polling every 20 ms. */
	private static ConditionFactory poll() {
		return Awaitility.await().atMost(WAIT).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(20));
	}

	/** One sample line of the Prometheus text format. */
	record Sample(String name, Map<String, String> labels, double value) {
	}

	/** A parsed scrape: its samples and the {@code # TYPE} of each family. */
	record Scrape(List<Sample> samples, Map<String, String> types) {

		static Scrape parse(String text) {
			List<Sample> samples = new ArrayList<>();
			Map<String, String> types = new LinkedHashMap<>();
			for (String line : text.split("\n")) {
				if (line.startsWith("# TYPE ")) {
					String[] parts = line.substring("# TYPE ".length()).trim().split(" ");
					types.put(parts[0], parts[1]);
				}
				else if (!line.isBlank() && !line.startsWith("#")) {
					samples.add(sample(line));
				}
			}
			return new Scrape(List.copyOf(samples), types);
		}

		private static Sample sample(String line) {
			int brace = line.indexOf('{');
			int space = line.indexOf(' ');
			Map<String, String> labels = new TreeMap<>();
			String name;
			String rest;
			if (brace >= 0 && brace < space) {
				name = line.substring(0, brace);
				int at = brace + 1;
				while (line.charAt(at) != '}') {
					int equals = line.indexOf('=', at);
					String key = line.substring(at, equals).trim();
					StringBuilder value = new StringBuilder();
					int cursor = equals + 2;
					while (line.charAt(cursor) != '"') {
						char next = line.charAt(cursor);
						if (next == '\\') {
							cursor++;
							next = (line.charAt(cursor) == 'n') ? '\n' : line.charAt(cursor);
						}
						value.append(next);
						cursor++;
					}
					labels.put(key, value.toString());
					at = cursor + 1;
					if (line.charAt(at) == ',') {
						at++;
					}
				}
				rest = line.substring(at + 1).trim();
			}
			else {
				name = line.substring(0, space);
				rest = line.substring(space + 1).trim();
			}
			String value = rest.split(" ")[0];
			return new Sample(name, labels, parseValue(value));
		}

		private static double parseValue(String value) {
			return switch (value) {
				case "+Inf" -> Double.POSITIVE_INFINITY;
				case "-Inf" -> Double.NEGATIVE_INFINITY;
				case "NaN" -> Double.NaN;
				default -> Double.parseDouble(value);
			};
		}

		List<Sample> select(String name) {
			return this.samples.stream().filter(sample -> sample.name().equals(name)).toList();
		}

		boolean has(String name, String... labels) {
			return find(name, labels) != null;
		}

		/** The value of the one sample with this name and (at least) these label pairs. */
		double value(String name, String... labels) {
			Sample sample = find(name, labels);
			assertThat(sample).as("sample %s%s", name, List.of(labels)).isNotNull();
			return sample.value();
		}

		/** How far a sample moved since {@code before}, as a whole number (counters and counts). */
		long delta(Scrape before, String name, String... labels) {
			return Math.round(value(name, labels) - before.value(name, labels));
		}

		long delta(Scrape before, Sample sample) {
			String[] labels = sample.labels()
				.entrySet()
				.stream()
				.flatMap(entry -> java.util.stream.Stream.of(entry.getKey(), entry.getValue()))
				.toArray(String[]::new);
			return delta(before, sample.name(), labels);
		}

		private @Nullable Sample find(String name, String... labels) {
			Map<String, String> wanted = new TreeMap<>();
			for (int i = 0; i < labels.length; i += 2) {
				wanted.put(labels[i], labels[i + 1]);
			}
			List<Sample> matches = this.samples.stream()
				.filter(sample -> sample.name().equals(name))
				.filter(sample -> sample.labels().entrySet().containsAll(wanted.entrySet()))
				.toList();
			assertThat(matches).as("samples %s%s", name, wanted).hasSizeLessThanOrEqualTo(1);
			return matches.isEmpty() ? null : matches.get(0);
		}

	}

}
