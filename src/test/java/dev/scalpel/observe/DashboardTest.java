package dev.scalpel.observe;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import reactor.core.Disposable;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.web.server.LocalManagementPort;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.core.ParameterizedTypeReference;
import org.springframework.http.MediaType;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.web.reactive.function.client.WebClient;

import dev.scalpel.slot.SlotPool;
import dev.scalpel.support.Await;
import dev.scalpel.support.ScalpelTest;
import dev.scalpel.support.FakeControlledTokenSource;
import dev.scalpel.support.FakeControlledTokenSource.Call;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Proves that the Grafana dashboard {@code helm/scalpel/dashboards/scalpel.json} queries only what
 * Scalpel really exports: after a completed, a cancelled and a disconnected stream, every
 * {@code scalpel_*} name in a panel query or a template variable query is a series name in
 * {@code /actuator/prometheus}. Also proves that it covers every meter of API.md (Operations) and that
 * its leaks stat turns red above 0.
 */
@ScalpelTest
class DashboardTest {

	private static final Duration WAIT = Duration.ofSeconds(10);

	/** Relative to the project directory, the working directory of Maven's test JVM. */
	private static final Path DASHBOARD = Path.of("helm", "scalpel", "dashboards", "scalpel.json");

	private static final Pattern METRIC = Pattern.compile("scalpel_[a-z_]+");

	private static final List<String> TOPICS = List.of("scalpel_slots_in_use", "scalpel_slots_capacity",
			"scalpel_queue_size", "scalpel_queue_wait_seconds_bucket", "scalpel_streams_started_total",
			"scalpel_streams_finished_total", "scalpel_slot_release_seconds_bucket",
			"scalpel_stream_ttft_seconds_bucket", "scalpel_tokens_total", "scalpel_leaks_reclaimed_total",
			"scalpel_listeners_active", "scalpel_upstream_active");

	private static final ParameterizedTypeReference<ServerSentEvent<String>> SSE = new ParameterizedTypeReference<>() {
	};

	@Autowired
	FakeControlledTokenSource upstream;

	@Autowired
	SlotPool slots;

	@Autowired
	JsonMapper json;

	@LocalServerPort
	int port;

	@LocalManagementPort
	int managementPort;

	@Test
	void everyQueriedMetricIsExportedAndEveryTopicIsCovered() throws IOException {
		this.upstream.reset();
		WebClient http = WebClient.create("http://localhost:" + this.port);
		Map<String, Double> before = scrape();

		completeOne(http);
		cancelOne(http);
		disconnectOne(http);
		Await.atMost(WAIT).pollInterval(Duration.ofMillis(50)).until(() -> {
			Map<String, Double> now = scrape();
			return this.slots.inUse() == 0 && released(now, before, "complete") && released(now, before, "cancel")
					&& released(now, before, "disconnect");
		});

		Map<String, Double> after = scrape();
		Set<String> exported = new TreeSet<>();
		after.keySet().forEach(series -> exported.add(series.replaceFirst("\\{.*", "")));

		JsonNode dashboard = this.json.readTree(Files.readString(DASHBOARD));
		assertThat(dashboard.path("uid").asString("")).isEqualTo("scalpel");
		assertThat(dashboard.path("panels").isArray()).as("panels is an array").isTrue();
		List<JsonNode> panels = panels(dashboard.path("panels"));
		List<String> panelExprs = new ArrayList<>();
		for (JsonNode panel : panels) {
			if ("row".equals(panel.path("type").asString(""))) {
				continue;
			}
			String title = panel.path("title").asString("");
			assertThat(panel.path("description").asString("")).as("description of %s", title).isNotBlank();
			assertThat(panel.path("targets")).as("targets of %s", title).isNotEmpty();
			for (JsonNode target : panel.path("targets")) {
				panelExprs.add(target.path("expr").asString(""));
			}
		}
		List<String> variableQueries = new ArrayList<>();
		for (JsonNode variable : dashboard.path("templating").path("list")) {
			JsonNode query = variable.path("query");
			variableQueries.add(query.isObject() ? query.path("query").asString("") : query.asString(""));
			variableQueries.add(variable.path("definition").asString(""));
		}

		Set<String> panelMetrics = metricNames(panelExprs);
		Set<String> queried = new TreeSet<>(panelMetrics);
		queried.addAll(metricNames(variableQueries));
		Set<String> missing = new TreeSet<>(queried);
		missing.removeAll(exported);
		assertThat(missing).as("metrics the dashboard queries that /actuator/prometheus does not export").isEmpty();
		assertThat(panelMetrics).as("topics the dashboard's panels cover").containsAll(TOPICS);

		List<JsonNode> leaks = panels.stream()
			.filter(panel -> metricNames(exprs(panel)).contains("scalpel_leaks_reclaimed_total"))
			.toList();
		assertThat(leaks).as("panels on scalpel_leaks_reclaimed_total").isNotEmpty();
		assertThat(leaks).as("a leaks stat that is red above 0")
			.anySatisfy(panel -> assertThat(panel.path("type").asString("")).isEqualTo("stat"))
			.anySatisfy(panel -> assertThat(panel.path("fieldConfig").path("defaults").path("thresholds").path("steps"))
				.anySatisfy(step -> {
					assertThat(step.path("color").asString("")).contains("red");
					assertThat(step.path("value").isNumber()).isTrue();
					assertThat(step.path("value").doubleValue()).isPositive();
				}));
	}

	/** A simulated stream read to its end. */
	private void completeOne(WebClient http) {
		List<ServerSentEvent<String>> events = http.post()
			.uri("/v1/streams")
			.accept(MediaType.TEXT_EVENT_STREAM)
			.contentType(MediaType.APPLICATION_JSON)
			.bodyValue("{\"prompt\":\"complete me\"}")
			.retrieve()
			.bodyToFlux(SSE)
			.filter(event -> event.event() != null)
			.collectList()
			.block(WAIT);
		assertThat(events).last().extracting(ServerSentEvent::event).isEqualTo("stream.completed");
	}

	/** A background stream, cancelled through the API while its upstream call is open. */
	private void cancelOne(WebClient http) {
		String started = http.post()
			.uri("/v1/streams")
			.accept(MediaType.APPLICATION_JSON)
			.contentType(MediaType.APPLICATION_JSON)
			.bodyValue("{\"model\":\"controlled\",\"prompt\":\"cancel me\",\"background\":true}")
			.retrieve()
			.bodyToMono(String.class)
			.block(WAIT);
		String id = this.json.readTree(started).path("id").asString("");
		Call call = this.upstream.nextCall(WAIT);
		call.token("a");
		String cancelled = http.post()
			.uri("/v1/streams/{id}/cancel", id)
			.retrieve()
			.bodyToMono(String.class)
			.block(WAIT);
		assertThat(this.json.readTree(cancelled).path("finish_reason").asString("")).isEqualTo("cancel_requested");
		Await.atMost(WAIT).until(call::cancelled);
	}

	/** A stream whose only listener closes its connection after the first token. */
	private void disconnectOne(WebClient http) {
		List<ServerSentEvent<String>> events = new CopyOnWriteArrayList<>();
		Disposable listening = http.post()
			.uri("/v1/streams")
			.accept(MediaType.TEXT_EVENT_STREAM)
			.contentType(MediaType.APPLICATION_JSON)
			.bodyValue("{\"model\":\"controlled\",\"prompt\":\"leave me\"}")
			.retrieve()
			.bodyToFlux(SSE)
			.subscribe(events::add, error -> {
			});
		Call call = this.upstream.nextCall(WAIT);
		call.token("a");
		Await.atMost(WAIT).until(() -> events.stream().anyMatch(event -> "token".equals(event.event())));
		listening.dispose();
		Await.atMost(WAIT).until(call::cancelled);
	}

	/** Whether {@code scalpel.slot.release{trigger}} counted a release since {@code before}. */
	private static boolean released(Map<String, Double> now, Map<String, Double> before, String trigger) {
		String series = "scalpel_slot_release_seconds_count{trigger=\"" + trigger + "\"}";
		return now.getOrDefault(series, 0.0) > before.getOrDefault(series, 0.0);
	}

	/** The management port's Prometheus scrape (text format), series (name and labels) to value. */
	private Map<String, Double> scrape() {
		String text = WebClient.create("http://localhost:" + this.managementPort)
			.get()
			.uri("/actuator/prometheus")
			.accept(MediaType.TEXT_PLAIN)
			.retrieve()
			.bodyToMono(String.class)
			.block(WAIT);
		assertThat(text).isNotBlank();
		Map<String, Double> series = new HashMap<>();
		for (String line : text.split("\n")) {
			if (line.isBlank() || line.startsWith("#")) {
				continue;
			}
			int value = line.lastIndexOf(' ');
			series.put(line.substring(0, value), number(line.substring(value + 1)));
		}
		return series;
	}

	private static double number(String value) {
		return switch (value) {
			case "+Inf" -> Double.POSITIVE_INFINITY;
			case "-Inf" -> Double.NEGATIVE_INFINITY;
			default -> Double.parseDouble(value);
		};
	}

	/** Every panel, including those nested in (collapsed) rows. */
	private static List<JsonNode> panels(JsonNode panels) {
		List<JsonNode> all = new ArrayList<>();
		for (JsonNode panel : panels) {
			all.add(panel);
			all.addAll(panels(panel.path("panels")));
		}
		return all;
	}

	private static List<String> exprs(JsonNode panel) {
		List<String> exprs = new ArrayList<>();
		panel.path("targets").forEach(target -> exprs.add(target.path("expr").asString("")));
		return exprs;
	}

	private static Set<String> metricNames(List<String> queries) {
		Set<String> names = new TreeSet<>();
		for (String query : queries) {
			Matcher matcher = METRIC.matcher(query);
			while (matcher.find()) {
				names.add(matcher.group());
			}
		}
		return names;
	}

}
