package dev.scalpel.security.hostile;

import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.locks.LockSupport;

import net.jqwik.api.statistics.Statistics;
import org.jspecify.annotations.Nullable;
import tools.jackson.databind.JsonNode;

import dev.scalpel.security.hostile.HostileRequest.Access;
import dev.scalpel.security.hostile.HostileRequest.Credentials;
import dev.scalpel.security.hostile.HostileRequest.Endpoint;
import dev.scalpel.security.hostile.HostileRequest.Victim;
import dev.scalpel.stream.StreamView;
import dev.scalpel.support.FakeControlledTokenSource;

import static dev.scalpel.security.hostile.HostileService.ALICE;
import static dev.scalpel.security.hostile.HostileService.BOB;
import static dev.scalpel.security.hostile.HostileService.JSON;
import static dev.scalpel.security.hostile.HostileService.OPS;
import static dev.scalpel.security.hostile.HostileService.TIMEOUT;
import static dev.scalpel.security.hostile.HostileService.concat;
import static dev.scalpel.security.hostile.HostileService.events;
import static dev.scalpel.security.hostile.HostileService.key;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * What a correct answer is, for {@code HostileInputPropertyTest}: what every answer to a hostile
 * request must be, what it may not leave behind, and what the service must still be after the attack.
 */
public final class HostileOracle {

	/** How long a listener may stay attached after its client closed the connection (a busy machine is slow). */
	static final Duration LISTENER_GRACE = Duration.ofSeconds(5);

	static final String PROBLEM_BASE = "https://scalpel.dev/problems/";

	/** What must never appear in a body: class names, Jackson's own messages, stack frames. */
	static final List<String> LEAKS = List.of("java.", "javax.", "jakarta.", "tools.jackson", "com.fasterxml",
			"org.springframework", "reactor.", "io.netty", "dev.scalpel", "Exception", "at dev.", "\tat ", "Caused by",
			"\"trace\"", "Source:", "Cannot deserialize", "Cannot construct", "Unexpected character", "line: ",
			"column: ");

	/** Statuses Netty answers itself, with no body, before any of the application runs. */
	static final Set<Integer> NETTY_STATUSES = Set.of(400, 414, 431);

	/** The first request after which a victim was found changed; later failures name it too. */
	private static volatile @Nullable String firstChange;

	private HostileOracle() {
	}

	public static void assertAnswer(HostileService service, HostileRequest request, HostileHttp.Response response) {
		int status = response.status();
		String what = request + "\n  answered: " + response.summary();
		assertThat(status).as("never a 5xx: %s", what).isLessThan(500);
		assertThat(status).as("a status: %s", what).isGreaterThanOrEqualTo(200);
		String text = response.text();
		assertThat(text).as("no implementation details: %s", what).doesNotContain(LEAKS);
		if (status >= 300 && status < 400) {
			assertThat(request.endpoint()).as("a redirect only into Swagger UI: %s", what).isEqualTo(Endpoint.SWAGGER);
			return;
		}
		if (status >= 400) {
			assertError(request, response, what);
		}
		else {
			assertSuccessIsAllowed(service, request, response, what);
		}
	}

	private static void assertError(HostileRequest request, HostileHttp.Response response, String what) {
		int status = response.status();
		String type = response.contentType();
		if (type == null && response.body().length == 0 && NETTY_STATUSES.contains(status)) {
			// Netty refused the request's head before the application saw it (unparseable, or too large).
			Statistics.label("refused by").collect("netty");
			return;
		}
		Statistics.label("refused by").collect("application");
		assertThat(type).as("an error has a content type: %s", what).isNotNull();
		if (request.openAiPath()) {
			assertThat(type).as("OpenAI's error shape on the OpenAI door: %s", what).startsWith("application/json");
			if (request.head()) {
				return;
			}
			JsonNode error = json(response, what).path("error");
			assertThat(error.isObject()).as("an error object: %s", what).isTrue();
			assertThat(error.path("message").asString("")).as("error.message: %s", what).isNotBlank();
			assertThat(error.path("type").asString("")).as("error.type: %s", what).isNotBlank();
			assertThat(error.path("code").isString()).as("error.code: %s", what).isTrue();
			assertThat(error.has("param")).as("error.param: %s", what).isTrue();
			return;
		}
		assertThat(type).as("a problem detail: %s", what).startsWith("application/problem+json");
		if (request.head()) {
			return;
		}
		JsonNode problem = json(response, what);
		assertThat(problem.path("type").asString("")).as("problem type: %s", what).startsWith(PROBLEM_BASE);
		assertThat(problem.path("title").asString("")).as("problem title: %s", what).isNotBlank();
		assertThat(problem.path("status").asInt(-1)).as("problem status: %s", what).isEqualTo(status);
		assertThat(problem.path("detail").asString("")).as("problem detail: %s", what).isNotBlank();
		if (problem.has("errors")) {
			assertThat(problem.path("errors").isArray()).as("problem errors: %s", what).isTrue();
			for (JsonNode error : problem.path("errors")) {
				assertThat(error.path("field").asString("")).as("errors[].field: %s", what).isNotBlank();
				assertThat(error.path("message").asString("")).as("errors[].message: %s", what).isNotBlank();
			}
		}
	}

	/** A 2xx: only to whom it may go, and only about streams its caller may see. */
	private static void assertSuccessIsAllowed(HostileService service, HostileRequest request, HostileHttp.Response response, String what) {
		Credentials credentials = request.credentials();
		boolean preflight = request.method().equals("OPTIONS") && response.body().length == 0;
		if (credentials.identities().isEmpty()) {
			boolean documentation = request.endpoint() == Endpoint.DOCS || request.endpoint() == Endpoint.SWAGGER;
			boolean token = request.endpoint() == Endpoint.EVENTS && request.id().victim() != null
					&& request.presentsValidTokenFor(request.id().victim());
			assertThat(documentation || preflight || token)
				.as("no success without a valid key (only docs, a CORS preflight, or an attach token for the "
						+ "stream's own events): %s", what)
				.isTrue();
		}
		Victim target = request.targetedVictim();
		if (target != null && !preflight) {
			Set<String> allowed = (request.endpoint().access() == Access.READ) ? Set.of(target.owner)
					: Set.of(target.owner, OPS);
			boolean token = request.endpoint() == Endpoint.EVENTS && request.presentsValidTokenFor(target);
			assertThat(token || credentials.identities().stream().anyMatch(allowed::contains))
				.as("a success about %s's stream %s only for %s: %s", target.owner, target, allowed, what)
				.isTrue();
		}
		if (response.eventStream() || response.body().length == 0) {
			return;
		}
		String text = response.text();
		for (Victim victim : Victim.values()) {
			boolean mayKnow = credentials.identities().contains(victim.owner) || credentials.identities().contains(OPS);
			if (!mayKnow) {
				assertThat(text).as("no sight of %s's stream %s: %s", victim.owner, victim, what)
					.doesNotContain(service.ids().get(victim));
			}
		}
		String type = response.contentType();
		if (type != null && type.startsWith("application/json")) {
			json(response, what);
		}
	}

	private static JsonNode json(HostileHttp.Response response, String what) {
		try {
			JsonNode node = JSON.readTree(response.text());
			assertThat(node != null && node.isObject()).as("a JSON object: %s", what).isTrue();
			return Objects.requireNonNull(node);
		}
		catch (RuntimeException ex) {
			throw new AssertionError("Not JSON: " + what, ex);
		}
	}

	/**
	 * Once the client has closed the connection (it does at once for an event stream), the request's
	 * listener, if it attached one, must leave: no request may leave a listener behind.
	 */
	public static void assertNoListenerLeft(HostileService service, HostileRequest request, HostileHttp.Response response,
			int before) {
		long deadline = System.nanoTime() + LISTENER_GRACE.toNanos();
		while (service.manager().listenerCount() > before) {
			if (System.nanoTime() > deadline) {
				fail("A listener is still attached %s after the connection closed: %s%n  answered: %s", LISTENER_GRACE,
						request, response.summary());
			}
			LockSupport.parkNanos(200_000);
		}
	}

	/**
	 * Every victim's status, exactly as recorded before the attack (checked in-process, which is
	 * cheap enough for every try; {@link #assertTheServiceStillWorksAndLeakedNothing} checks the JSON on
	 * the wire too).
	 */
	public static void assertVictimsUnchanged(HostileService service, HostileRequest request) {
		for (Victim victim : Victim.values()) {
			StreamView now = service.manager().status(service.ids().get(victim));
			StreamView expected = service.views().get(victim);
			if (!now.equals(expected)) {
				String culprit = firstChange;
				if (culprit == null) {
					culprit = request.toString();
					firstChange = culprit;
				}
				fail("Victim %s changed. First seen after: %s%n  was: %s%n  now: %s", victim, culprit, expected, now);
			}
		}
	}

	/** Every victim's status object on the wire, byte for byte as recorded before the attack. */
	private static void assertVictimsUnchangedOnTheWire(HostileService service) {
		for (Victim victim : Victim.values()) {
			HttpResponse<String> now = service.get("/v1/streams/" + service.ids().get(victim), victim.key());
			assertThat(now.statusCode()).as("status of %s: %s", victim, now.body()).isEqualTo(200);
			assertThat(now.body()).as("status of %s", victim).isEqualTo(service.snapshots().get(victim));
		}
	}

	// ---------------------------------------------------------------------------------------------
	// What the service must still be after the attack

	/**
	 * After the attack: the victims' status objects are byte for byte as before on the wire and the
	 * completed one replays the same events; the live victims end only when their owners cancel them,
	 * their event sequences whole and their upstream calls closed; a normal stream still runs end to
	 * end on both front doors; and once everything is ended nothing is held or was leaked.
	 */
	public static void assertTheServiceStillWorksAndLeakedNothing(HostileService service) throws Exception {
		assertThat(firstChange).as("a request changed a victim").isNull();
		assertVictimsUnchangedOnTheWire(service);
		assertThat(events(service, Victim.COMPLETED)).as("the completed victim's events, replayed")
			.isEqualTo(service.completedEvents());

		aNormalStreamRunsEndToEnd(service);

		// The live victims end the way their owners end them, and only now.
		for (Victim victim : List.of(Victim.RUNNING, Victim.WAITING, Victim.BOBS)) {
			HttpResponse<String> cancelled = service.post("/v1/streams/" + service.ids().get(victim) + "/cancel",
					victim.key(), "");
			assertThat(cancelled.statusCode()).as("cancel %s: %s", victim, cancelled.body()).isEqualTo(200);
			JsonNode status = JSON.readTree(cancelled.body());
			assertThat(status.path("status").asString()).as("%s after its owner's cancel", victim)
				.isEqualTo("cancelled");
			assertThat(status.path("finish_reason").asString()).as("%s's finish reason", victim)
				.isEqualTo("cancel_requested");
		}
		assertEventSequence(service, Victim.RUNNING, List.of("alpha", "beta"));
		assertEventSequence(service, Victim.BOBS, List.of("gamma"));
		assertEventSequence(service, Victim.WAITING, List.of());
		long deadline = System.nanoTime() + TIMEOUT.toNanos();
		for (FakeControlledTokenSource.Call call : service.calls().values()) {
			while (!call.closed() && System.nanoTime() < deadline) {
				Thread.sleep(5);
			}
			assertThat(call.closed()).as("a cancelled victim's upstream call is closed").isTrue();
		}

		endEverything(service);
		awaitMeter(service, "scalpel.slots.in_use", 0);
		awaitMeter(service, "scalpel.queue.size", 0);
		awaitMeter(service, "scalpel.listeners.active", 0);
		awaitMeter(service, "scalpel.upstream.active", 0);
		// Two audits (every 2 s) after everything ended: anything leaked is reclaimed and counted by now.
		Thread.sleep(4500);
		for (String resource : List.of("listener", "stream", "slot")) {
			HttpResponse<String> leaks = service
				.management("/actuator/metrics/scalpel.leaks.reclaimed?tag=resource:" + resource);
			if (leaks.statusCode() == 200) {
				assertThat(meter(leaks.body())).as("%ss the leak auditor reclaimed (see its log lines)", resource)
					.isZero();
			}
			else {
				assertThat(leaks.statusCode()).as("scalpel.leaks.reclaimed: %s", leaks.body()).isEqualTo(404);
			}
		}
	}

	private static void aNormalStreamRunsEndToEnd(HostileService service) throws IOException {
		byte[] body = "{\"prompt\":\"after the attack\"}".getBytes(StandardCharsets.UTF_8);
		String head = "POST /v1/streams HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + key(ALICE)
				+ "\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: " + body.length
				+ "\r\nConnection: close\r\n\r\n";
		HostileHttp.Response response = HostileHttp.exchange(service.port(),
				concat(head.getBytes(StandardCharsets.UTF_8), body), false, true, TIMEOUT);
		assertThat(response.status()).as("a normal stream: %s", response.summary()).isEqualTo(200);
		List<SseEvent> events = SseEvent.parse(response.text());
		assertConsecutive(events, "a normal stream");
		assertThat(events.get(0).type()).isEqualTo("stream.created");
		assertThat(events.get(events.size() - 1).type()).isEqualTo("stream.completed");
		assertThat(events).filteredOn(event -> event.type().equals("token")).isNotEmpty();

		HttpResponse<String> chat = service.post("/v1/chat/completions", key(BOB),
				"{\"model\":\"simulated\",\"messages\":[{\"role\":\"user\",\"content\":\"after the attack\"}]}");
		assertThat(chat.statusCode()).as("a normal chat completion: %s", chat.body()).isEqualTo(200);
		JsonNode completion = JSON.readTree(chat.body());
		assertThat(completion.path("object").asString()).isEqualTo("chat.completion");
		assertThat(completion.path("choices").path(0).path("message").path("content").asString()).isNotBlank();
	}

	/** Replays a (now terminal) victim's events: ids 1, 2, ..., its tokens, one terminal event, last. */
	private static void assertEventSequence(HostileService service, Victim victim, List<String> tokens) throws IOException {
		List<SseEvent> events = SseEvent.parse(events(service, victim));
		assertConsecutive(events, victim.name());
		assertThat(events.get(0).type()).as("%s's first event", victim).isEqualTo("stream.created");
		assertThat(events.get(events.size() - 1).type()).as("%s's last event", victim).isEqualTo("stream.cancelled");
		assertThat(events).as("%s's terminal events", victim)
			.filteredOn(event -> event.type().equals("stream.completed") || event.type().equals("stream.failed")
					|| event.type().equals("stream.cancelled"))
			.hasSize(1);
		List<String> texts = events.stream()
			.filter(event -> event.type().equals("token"))
			.map(event -> JSON.readTree(event.data()).path("text").asString())
			.toList();
		assertThat(texts).as("%s's tokens", victim).isEqualTo(tokens);
	}

	private static void assertConsecutive(List<SseEvent> events, String what) {
		assertThat(events).as("%s's events", what).isNotEmpty();
		for (int i = 0; i < events.size(); i++) {
			assertThat(events.get(i).id()).as("%s's event ids: %s", what, events).isEqualTo(String.valueOf(i + 1));
		}
	}

	/** The administrator cancels every stream the attack left queued or in progress. */
	private static void endEverything(HostileService service) {
		for (int round = 0; round < 100; round++) {
			List<String> live = new ArrayList<>();
			for (String status : List.of("queued", "in_progress")) {
				HttpResponse<String> page = service.get("/v1/streams?limit=100&status=" + status, key(OPS));
				assertThat(page.statusCode()).as("list: %s", page.body()).isEqualTo(200);
				JSON.readTree(page.body()).path("data").forEach(view -> live.add(view.path("id").asString()));
			}
			if (live.isEmpty()) {
				return;
			}
			for (String id : live) {
				HttpResponse<String> cancelled = service.post("/v1/streams/" + id + "/cancel", key(OPS), "");
				assertThat(cancelled.statusCode()).as("cancel %s: %s", id, cancelled.body()).isEqualTo(200);
			}
		}
		fail("streams kept appearing while everything was being cancelled");
	}

	private static void awaitMeter(HostileService service, String name, double expected) throws InterruptedException {
		long deadline = System.nanoTime() + TIMEOUT.toNanos();
		while (true) {
			HttpResponse<String> meter = service.management("/actuator/metrics/" + name);
			assertThat(meter.statusCode()).as("%s: %s", name, meter.body()).isEqualTo(200);
			double value = meter(meter.body());
			if (value == expected) {
				return;
			}
			if (System.nanoTime() > deadline) {
				fail("%s is %s, not %s, %s after everything ended", name, value, expected, TIMEOUT);
			}
			Thread.sleep(20);
		}
	}

	private static double meter(String body) {
		double total = 0;
		for (JsonNode measurement : JSON.readTree(body).path("measurements")) {
			total += measurement.path("value").asDouble();
		}
		return total;
	}

	record SseEvent(String id, String type, String data) {

		static List<SseEvent> parse(String text) {
			List<SseEvent> events = new ArrayList<>();
			for (String frame : text.replace("\r\n", "\n").split("\n\n")) {
				String id = null;
				String type = null;
				StringBuilder data = new StringBuilder();
				for (String line : frame.split("\n")) {
					if (line.startsWith("id:")) {
						id = line.substring(3).trim();
					}
					else if (line.startsWith("event:")) {
						type = line.substring(6).trim();
					}
					else if (line.startsWith("data:")) {
						data.append(line.substring(5).trim());
					}
				}
				if (type != null) {
					events.add(new SseEvent(String.valueOf(id), type, data.toString()));
				}
			}
			return events;
		}

	}

}
