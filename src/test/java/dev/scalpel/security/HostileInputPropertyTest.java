package dev.scalpel.security;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.EnumMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.locks.LockSupport;
import java.util.function.UnaryOperator;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import net.jqwik.api.statistics.Statistics;
import org.jspecify.annotations.Nullable;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;

import dev.scalpel.ScalpelApplication;
import dev.scalpel.stream.StreamManager;
import dev.scalpel.stream.StreamView;
import dev.scalpel.support.ControlledUpstream;
import dev.scalpel.upstream.ControlledTokenSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * Thousands of generated hostile requests against every endpoint of the running service, with API
 * keys configured so that the security layer is under attack too: any method, a path that is a real
 * endpoint or not, dressed with double slashes, dot segments, encoded slashes, NULs, matrix
 * parameters and raw non-ASCII bytes, an id that is another key's real stream, an unknown one, a
 * malformed or a huge one, hostile query values ({@code after}, {@code limit}, {@code status},
 * {@code token}), credentials that are missing, wrong, malformed, huge, non-ASCII, duplicated or
 * another key's, hostile {@code Content-Type}, {@code Accept}, {@code Last-Event-ID}, {@code Origin}
 * and {@code Host} headers, and bodies that are random bytes, truncated or deeply nested JSON,
 * huge strings and numbers, wrong types in every field of the native start request and of the
 * OpenAI chat request, duplicate keys, oversized metadata, invalid UTF-8 and control characters.
 * Requests are written byte for byte on a raw socket ({@link HostileHttp}), as no well-behaved client
 * would send them.
 *
 * <p>For every request, whatever it is:
 * <ul>
 * <li>the answer comes within a bounded time and is never a {@code 5xx} (nor a redirect, outside
 * Swagger UI);</li>
 * <li>an error is an RFC 9457 problem detail (OpenAI's error object on {@code /v1/chat/} and
 * {@code /v1/models}), except the
 * bodiless {@code 400}, {@code 414} and {@code 431} that Netty answers before the application runs
 * for requests it cannot parse or whose head is too large; no body names a Java class, a package or a
 * stack frame;</li>
 * <li>a success goes only to whom it may: nothing on {@code /v1} without a valid key (a CORS
 * preflight and an attach token for that very stream's events aside), no other key's stream seen,
 * attached to, or handed an attach token for (an administrator sees and cancels, never reads);</li>
 * <li>once the client has closed the connection (at once, for an event stream), no listener of the
 * request is left attached;</li>
 * <li>the "victims", streams started before the attack (alice's completed one, her running
 * background one, her started-but-never-attached one, and bob's running one), are exactly as they
 * were: the same status, after every single request. A request whose credentials could
 * legitimately change a live victim (its owner's key, or the administrator's) is pointed at the
 * completed victim instead, whose status must not change either.</li>
 * </ul>
 * After all properties ({@link #theServiceStillWorksAndLeakedNothing()}): the victims' status
 * objects are byte for byte as before on the wire and the completed one replays the same events;
 * the live ones end only when their owners cancel them, their event sequences whole (ids
 * consecutive from 1, their tokens, one terminal event, last) and their upstream calls closed; a
 * normal stream still runs end to end on both front doors; and once every stream is ended no slot,
 * queue entry, listener or upstream call is left and the leak auditor (run every 2 s here)
 * reclaimed nothing.
 *
 * <p>jqwik chooses the seeds and prints the one of a failing property; re-run it with
 * {@code @Property(seed = "...")}. jqwik does not run Spring's JUnit extension, so the application
 * is started here, once for the class, as {@code @ScalpelTest} would (the {@code test} profile, random
 * ports, the {@code controlled} model besides {@code simulated}).
 */
class HostileInputPropertyTest {

	static final String ALICE = "alice";

	static final String BOB = "bob";

	static final String OPS = "ops";

	static final String ALLOWED_ORIGIN = "https://app.example.com";

	/** {@code scalpel.limits.max-body-size}, small so that the size cases stay cheap. */
	static final int MAX_BODY_BYTES = 32 * 1024;

	/** The bound on every exchange; the service answers every request here in milliseconds. */
	static final Duration TIMEOUT = Duration.ofSeconds(10);

	/** How long a listener may stay attached after its client closed the connection (a busy machine is slow). */
	static final Duration LISTENER_GRACE = Duration.ofSeconds(5);

	/** Well-formed, but names no stream. */
	static final String UNKNOWN_ID = "str_0123456789abcdef0123456789abcdef";

	static final String PROBLEM_BASE = "https://scalpel.dev/problems/";

	/** What must never appear in a body: class names, Jackson's own messages, stack frames. */
	static final List<String> LEAKS = List.of("java.", "javax.", "jakarta.", "tools.jackson", "com.fasterxml",
			"org.springframework", "reactor.", "io.netty", "dev.scalpel", "Exception", "at dev.", "\tat ", "Caused by",
			"\"trace\"", "Source:", "Cannot deserialize", "Cannot construct", "Unexpected character", "line: ",
			"column: ");

	/** Statuses Netty answers itself, with no body, before any of the application runs. */
	static final Set<Integer> NETTY_STATUSES = Set.of(400, 414, 431);

	static final JsonMapper JSON = JsonMapper.shared();

	private static @Nullable Service service;

	/** The first request after which a victim was found changed; later failures name it too. */
	private static volatile @Nullable String firstChange;

	// ---------------------------------------------------------------------------------------------
	// The properties

	/** Anything at all: every method, endpoint, path shape, id, query, credential, header and body. */
	@Property(tries = 3000)
	void anyHostileRequestIsAnsweredSafely(@ForAll("anyRequests") HostileRequest request) throws IOException {
		attack(request);
	}

	/**
	 * Bodies first: the two start endpoints, mostly with a valid key and a JSON content type so that
	 * the body reaches the parser and the validator, which is where hostile bodies can do harm.
	 */
	@Property(tries = 1500)
	void hostileBodiesToTheStartEndpointsAreAnsweredSafely(@ForAll("startRequests") HostileRequest request)
			throws IOException {
		attack(request);
	}

	/**
	 * Isolation first: the endpoints of one stream, mostly aimed at the victims, with another key's,
	 * the administrator's, a wrong or no key, attach tokens (valid, for another stream, tampered,
	 * spliced), hostile ids, queries and {@code Last-Event-ID}.
	 */
	@Property(tries = 1500)
	void hostileRequestsForOtherCallersStreamsAreAnsweredSafely(@ForAll("streamRequests") HostileRequest request)
			throws IOException {
		attack(request);
	}

	/**
	 * Sends one request and checks the answer, then that it left no listener attached once its
	 * connection was closed, and that no victim changed.
	 */
	private static void attack(HostileRequest request) throws IOException {
		Service service = service();
		// Listeners attached before this request (of a request that failed earlier, say) are not its own.
		int listeners = service.manager().listenerCount();
		HostileHttp.Response response;
		try {
			response = HostileHttp.exchange(service.port(), request.wire(service), request.head(), false, TIMEOUT);
		}
		catch (HostileHttp.Timeout ex) {
			throw new AssertionError("No answer within " + TIMEOUT + " (the service hangs) to " + request, ex);
		}
		catch (HostileHttp.NoResponse ex) {
			throw new AssertionError("No complete answer (" + ex.getMessage() + ") to " + request, ex);
		}
		Statistics.label("status").collect(response.status());
		assertAnswer(request, response);
		assertNoListenerLeft(service, request, response, listeners);
		assertVictimsUnchanged(service, request);
	}

	// ---------------------------------------------------------------------------------------------
	// What every answer must be

	static void assertAnswer(HostileRequest request, HostileHttp.Response response) {
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
			assertSuccessIsAllowed(request, response, what);
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
	private static void assertSuccessIsAllowed(HostileRequest request, HostileHttp.Response response, String what) {
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
					.doesNotContain(service().ids().get(victim));
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
	private static void assertNoListenerLeft(Service service, HostileRequest request, HostileHttp.Response response,
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
	 * cheap enough for every try; {@link #theServiceStillWorksAndLeakedNothing()} checks the JSON on
	 * the wire too).
	 */
	private static void assertVictimsUnchanged(Service service, HostileRequest request) {
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
	private static void assertVictimsUnchangedOnTheWire(Service service) {
		for (Victim victim : Victim.values()) {
			HttpResponse<String> now = service.get("/v1/streams/" + service.ids().get(victim), victim.key());
			assertThat(now.statusCode()).as("status of %s: %s", victim, now.body()).isEqualTo(200);
			assertThat(now.body()).as("status of %s", victim).isEqualTo(service.snapshots().get(victim));
		}
	}

	// ---------------------------------------------------------------------------------------------
	// The service, its victims, and the checks after the attack

	/** The running application, its victims as they were before the attack, and attach tokens. */
	record Service(ConfigurableApplicationContext context, StreamManager manager, int port, int management,
			HttpClient http, Map<Victim, String> ids, Map<Victim, String> snapshots, Map<Victim, StreamView> views,
			String completedEvents,
			Map<Victim, ControlledTokenSource.Call> calls, Map<String, String> tokens) {

		HttpResponse<String> get(String path, String key) {
			return send(HttpRequest.newBuilder(uri(this.port, path)).GET(), key);
		}

		HttpResponse<String> post(String path, String key, String json) {
			return send(HttpRequest.newBuilder(uri(this.port, path))
				.header("Content-Type", "application/json")
				.POST(HttpRequest.BodyPublishers.ofString(json)), key);
		}

		HttpResponse<String> management(String path) {
			return send(HttpRequest.newBuilder(uri(this.management, path)).GET(), null);
		}

		private HttpResponse<String> send(HttpRequest.Builder request, @Nullable String key) {
			if (key != null) {
				request.header("Authorization", "Bearer " + key);
			}
			try {
				return this.http.send(request.timeout(TIMEOUT).build(), HttpResponse.BodyHandlers.ofString());
			}
			catch (IOException ex) {
				throw new AssertionError("request failed: " + ex, ex);
			}
			catch (InterruptedException ex) {
				Thread.currentThread().interrupt();
				throw new AssertionError(ex);
			}
		}

		private static URI uri(int port, String path) {
			return URI.create("http://localhost:" + port + path);
		}

	}

	static Service service() {
		return Objects.requireNonNull(service, "the service was not started");
	}

	@BeforeContainer
	static void startTheServiceAndItsVictims() throws Exception {
		ConfigurableApplicationContext context = new SpringApplicationBuilder(ScalpelApplication.class,
				ControlledUpstream.class)
			.profiles("test")
			.run("--server.port=0", "--management.server.port=0",
					"--scalpel.security.keys[0].name=" + ALICE,
					"--scalpel.security.keys[0].sha256=" + sha256(key(ALICE)),
					"--scalpel.security.keys[1].name=" + BOB,
					"--scalpel.security.keys[1].sha256=" + sha256(key(BOB)),
					"--scalpel.security.keys[2].name=" + OPS,
					"--scalpel.security.keys[2].sha256=" + sha256(key(OPS)),
					"--scalpel.security.keys[2].role=admin",
					"--scalpel.security.cors.allowed-origins=" + ALLOWED_ORIGIN,
					"--scalpel.limits.max-body-size=" + MAX_BODY_BYTES + "B",
					// The never-attached victim must wait for the whole attack.
					"--scalpel.streams.attach-timeout=10m",
					// The running victims' upstream calls stay quiet for the whole attack.
					"--scalpel.upstream.idle-timeout=10m",
					// The auditor looks often, so that anything the attack leaks is found and counted.
					"--scalpel.auditor.interval=2s");
		try {
			int port = Integer.parseInt(context.getEnvironment().getRequiredProperty("local.server.port"));
			int management = Integer.parseInt(context.getEnvironment().getRequiredProperty("local.management.port"));
			HttpClient http = HttpClient.newBuilder()
				.version(HttpClient.Version.HTTP_1_1)
				.connectTimeout(TIMEOUT)
				.build();
			ControlledTokenSource upstream = context.getBean(ControlledTokenSource.class);
			StreamManager manager = context.getBean(StreamManager.class);
			Service starting = new Service(context, manager, port, management, http, new EnumMap<>(Victim.class),
					new EnumMap<>(Victim.class), new EnumMap<>(Victim.class), "", new EnumMap<>(Victim.class),
					new LinkedHashMap<>());

			Map<Victim, String> ids = starting.ids();
			ids.put(Victim.COMPLETED, start(starting, ALICE, "{\"prompt\":\"victim\",\"background\":true}"));
			awaitStatus(starting, Victim.COMPLETED, "completed");
			ids.put(Victim.RUNNING,
					start(starting, ALICE, "{\"model\":\"controlled\",\"prompt\":\"victim\",\"background\":true}"));
			starting.calls().put(Victim.RUNNING, upstream.nextCall(TIMEOUT).token("alpha").token("beta"));
			ids.put(Victim.WAITING, start(starting, ALICE, "{\"prompt\":\"victim\"}"));
			ids.put(Victim.BOBS,
					start(starting, BOB, "{\"model\":\"controlled\",\"prompt\":\"victim\",\"background\":true}"));
			starting.calls().put(Victim.BOBS, upstream.nextCall(TIMEOUT).token("gamma"));
			awaitStatus(starting, Victim.RUNNING, "in_progress");
			awaitStatus(starting, Victim.WAITING, "queued");
			awaitStatus(starting, Victim.BOBS, "in_progress");
			for (Victim victim : Victim.values()) {
				starting.snapshots().put(victim, settled(starting, victim));
				starting.views().put(victim, manager.status(ids.get(victim)));
			}
			String completedEvents = events(starting, Victim.COMPLETED);
			Map<String, String> tokens = tokens(starting);
			service = new Service(context, manager, port, management, http, Map.copyOf(ids),
					Map.copyOf(starting.snapshots()), Map.copyOf(starting.views()), completedEvents,
					Map.copyOf(starting.calls()), tokens);
		}
		catch (Throwable ex) {
			context.close();
			throw ex;
		}
	}

	/**
	 * After all properties: the victims' event sequences are whole, a normal stream still runs end to
	 * end on both front doors, and once everything is ended nothing is held or was leaked.
	 */
	@AfterContainer
	static void theServiceStillWorksAndLeakedNothing() throws Exception {
		Service service = HostileInputPropertyTest.service;
		if (service == null) {
			// It did not start: that failure is reported already.
			return;
		}
		try {
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
			for (ControlledTokenSource.Call call : service.calls().values()) {
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
		finally {
			service.context().close();
			HostileInputPropertyTest.service = null;
		}
	}

	private static void aNormalStreamRunsEndToEnd(Service service) throws IOException {
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
	private static void assertEventSequence(Service service, Victim victim, List<String> tokens) throws IOException {
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
	private static void endEverything(Service service) {
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

	private static void awaitMeter(Service service, String name, double expected) throws InterruptedException {
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

	// ---------------------------------------------------------------------------------------------
	// Setting the victims up

	private static String start(Service service, String owner, String json) {
		HttpResponse<String> started = service.post("/v1/streams", key(owner), json);
		assertThat(started.statusCode()).as("start %s: %s", json, started.body()).isEqualTo(202);
		return JSON.readTree(started.body()).path("id").asString();
	}

	private static void awaitStatus(Service service, Victim victim, String status) throws InterruptedException {
		long deadline = System.nanoTime() + TIMEOUT.toNanos();
		while (!status.equals(statusObject(service, victim).path("status").asString())) {
			if (System.nanoTime() > deadline) {
				fail("%s is not %s: %s", victim, status, statusObject(service, victim));
			}
			Thread.sleep(10);
		}
	}

	private static JsonNode statusObject(Service service, Victim victim) {
		return JSON.readTree(service.get("/v1/streams/" + service.ids().get(victim), victim.key()).body());
	}

	/** A victim's status object once it no longer changes (its tokens are in). */
	private static String settled(Service service, Victim victim) throws InterruptedException {
		String previous = "";
		for (int i = 0; i < 500; i++) {
			String now = service.get("/v1/streams/" + service.ids().get(victim), victim.key()).body();
			if (now.equals(previous)) {
				return now;
			}
			previous = now;
			Thread.sleep(50);
		}
		throw new AssertionError(victim + " never settled: " + previous);
	}

	/** A terminal (or background) victim's events replayed from the start, read to their end. */
	private static String events(Service service, Victim victim) throws IOException {
		String head = "GET /v1/streams/" + service.ids().get(victim) + "/events HTTP/1.1\r\nHost: localhost\r\n"
				+ "Authorization: Bearer " + victim.key() + "\r\nConnection: close\r\n\r\n";
		HostileHttp.Response response = HostileHttp.exchange(service.port(), head.getBytes(StandardCharsets.UTF_8),
				false, true, TIMEOUT);
		assertThat(response.status()).as("events of %s: %s", victim, response.summary()).isEqualTo(200);
		return response.text();
	}

	/**
	 * Attach tokens, by placeholder: alice's valid ones for her completed and running victims, and
	 * forgeries (a flipped signature character, another stream's payload under this one's signature,
	 * a payload claiming bob as the owner).
	 */
	private static Map<String, String> tokens(Service service) {
		Map<String, String> tokens = new LinkedHashMap<>();
		String completed = attachToken(service, Victim.COMPLETED);
		String running = attachToken(service, Victim.RUNNING);
		tokens.put(TokenRef.COMPLETED.placeholder(), completed);
		tokens.put(TokenRef.RUNNING.placeholder(), running);
		char last = completed.charAt(completed.length() - 1);
		tokens.put(TokenRef.TAMPERED.placeholder(),
				completed.substring(0, completed.length() - 1) + ((last == 'A') ? 'B' : 'A'));
		String[] completedParts = completed.split("\\.");
		String[] runningParts = running.split("\\.");
		tokens.put(TokenRef.SPLICED.placeholder(), runningParts[0] + "." + completedParts[1]);
		String payload = new String(Base64.getUrlDecoder().decode(completedParts[0]), StandardCharsets.UTF_8);
		String claimed = payload.substring(0, payload.lastIndexOf(':') + 1) + BOB;
		tokens.put(TokenRef.OWNER_CLAIM.placeholder(),
				Base64.getUrlEncoder().withoutPadding().encodeToString(claimed.getBytes(StandardCharsets.UTF_8)) + "."
						+ completedParts[1]);
		return Map.copyOf(tokens);
	}

	private static String attachToken(Service service, Victim victim) {
		HttpResponse<String> issued = service.post("/v1/streams/" + service.ids().get(victim) + "/attach_token",
				victim.key(), "");
		assertThat(issued.statusCode()).as("attach token: %s", issued.body()).isEqualTo(200);
		return JSON.readTree(issued.body()).path("token").asString();
	}

	static String key(String name) {
		return "sk-" + name;
	}

	static String sha256(String text) throws NoSuchAlgorithmException {
		return HexFormat.of()
			.formatHex(MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
	}

	static byte[] concat(byte[] first, byte[] second) {
		byte[] all = new byte[first.length + second.length];
		System.arraycopy(first, 0, all, 0, first.length);
		System.arraycopy(second, 0, all, first.length, second.length);
		return all;
	}

	/** One Server-Sent Event: its id, its type and its data. */
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

	// ---------------------------------------------------------------------------------------------
	// The model of a hostile request

	/** The streams under attack, started before it. */
	enum Victim {

		/** Alice's background stream on {@code simulated}, completed. */
		COMPLETED(ALICE, false),

		/** Alice's background stream on {@code controlled}: two tokens, then in progress for good. */
		RUNNING(ALICE, true),

		/** Alice's stream started without a listener: queued until one attaches (none will). */
		WAITING(ALICE, true),

		/** Bob's background stream on {@code controlled}: one token, then in progress for good. */
		BOBS(BOB, true);

		final String owner;

		final boolean live;

		Victim(String owner, boolean live) {
			this.owner = owner;
			this.live = live;
		}

		String key() {
			return HostileInputPropertyTest.key(this.owner);
		}

	}

	/** What a caller needs to succeed on a stream's endpoint: to own it, or to own or administer it. */
	enum Access {

		READ, MANAGE, NONE

	}

	/** Where a request goes, before its path is dressed up; {@code {id}} stands for a stream id. */
	enum Endpoint {

		STREAMS("/v1/streams", Access.MANAGE), STATUS("/v1/streams/{id}", Access.MANAGE),
		EVENTS("/v1/streams/{id}/events", Access.READ), CANCEL("/v1/streams/{id}/cancel", Access.MANAGE),
		ATTACH_TOKEN("/v1/streams/{id}/attach_token", Access.READ), SUB_RESOURCE("/v1/streams/{id}/nope", Access.READ),
		CHAT("/v1/chat/completions", Access.NONE), CHAT_OTHER("/v1/chat/{id}", Access.NONE),
		MODELS("/v1/models", Access.NONE), MODEL("/v1/models/{id}", Access.NONE), V1("/v1", Access.NONE),
		ROOT("/", Access.NONE), DOCS("/v3/api-docs", Access.NONE), SWAGGER("/swagger-ui.html", Access.NONE),
		ACTUATOR("/actuator/health", Access.NONE), LEGACY("/v1/completions", Access.NONE);

		final String template;

		private final Access access;

		Endpoint(String template, Access access) {
			this.template = template;
			this.access = access;
		}

		Access access() {
			return this.access;
		}

		boolean hasId() {
			return this.template.contains("{id}");
		}

	}

	/** How a path is dressed up. Each keeps {@code {id}} intact. */
	enum PathShape {

		PLAIN(path -> path),
		DOUBLE_SLASH_FIRST(path -> "/" + path),
		DOUBLE_SLASH_INSIDE(path -> path.replaceFirst("/v1/", "/v1//")),
		TRAILING_SLASH(path -> path + "/"),
		DOT_SEGMENT(path -> "/." + path),
		DOT_DOT_SEGMENT(path -> "/x/.." + path),
		ENCODED_DOT_DOT(path -> "/x/%2e%2e" + path),
		ENCODED_SLASH(path -> path.replace("/v1/", "/v1%2f")),
		DOUBLE_ENCODED(path -> path.replace("/v1/", "/v1%252f")),
		UPPER_CASE(path -> path.replace("v1", "V1").replace("streams", "Streams")),
		ENCODED_LETTER(path -> path.replace("streams", "%73treams")),
		MATRIX(path -> path.replace("/v1/", "/v1;a=b/")),
		SEMICOLON(path -> path + ";jsessionid=0"),
		ABSOLUTE_FORM(path -> "http://localhost" + path),
		FRAGMENT(path -> path + "#top"),
		BACKSLASH(path -> path.replace('/', '\\')),
		ENCODED_NUL(path -> path + "%00"),
		ENCODED_CONTROL(path -> path + "%0d%0aX-Injected:%20yes"),
		RAW_UNICODE(path -> path + "/\u00fc\u202e\u4e2d"),
		RAW_SPACE(path -> path + " x"),
		RAW_TAB(path -> path + "\tx"),
		PERCENT_JUNK(path -> path + "%zz%"),
		LONG(path -> path + "/" + "a".repeat(5000)),
		OVERLONG_UTF8(path -> path + "%c0%af"),
		ASTERISK(path -> "*"),
		// Last, as jqwik tries the last value of an enum as an edge case: cheap, unlike LONG.
		NO_SLASH(path -> path.substring(1));

		private final UnaryOperator<String> dress;

		PathShape(UnaryOperator<String> dress) {
			this.dress = dress;
		}

		String apply(String template) {
			return this.dress.apply(template);
		}

	}

	/** How a victim's id is dressed up; {@link #EXACT} names the stream itself. */
	enum IdShape {

		EXACT(id -> id), UPPER_CASE(id -> id.toUpperCase(Locale.ROOT)), EXTRA_CHARACTER(id -> id + "0"),
		MISSING_CHARACTER(id -> id.substring(0, id.length() - 1)), ENCODED_LETTER(id -> "%73" + id.substring(1)),
		MATRIX(id -> id + ";v=1"), ENCODED_SPACE(id -> id + "%20"), ENCODED_NUL(id -> id + "%00"),
		TRAILING_DOT(id -> id + "."), TWICE(id -> id + "," + id), NO_PREFIX(id -> id.substring(4)),
		WILDCARD(id -> id.substring(0, 10) + "*");

		private final UnaryOperator<String> dress;

		IdShape(UnaryOperator<String> dress) {
			this.dress = dress;
		}

	}

	/** A stream id: a victim's (dressed up) or a literal one. */
	record IdRef(@Nullable Victim victim, IdShape shape, String literal) {

		static IdRef of(Victim victim, IdShape shape) {
			return new IdRef(victim, shape, "");
		}

		static IdRef literal(String id) {
			return new IdRef(null, IdShape.EXACT, id);
		}

		String render(Service service) {
			Victim victim = this.victim;
			return (victim != null) ? this.shape.dress.apply(service.ids().get(victim)) : this.literal;
		}

		@Override
		public String toString() {
			if (this.victim == null) {
				return HostileHttp.printable(this.literal, 80);
			}
			return "<" + this.victim + ((this.shape != IdShape.EXACT) ? " " + this.shape : "") + ">";
		}

	}

	/** Attach tokens: alice's valid ones for two victims, and forgeries of them. */
	enum TokenRef {

		COMPLETED, RUNNING, TAMPERED, SPLICED, OWNER_CLAIM;

		String placeholder() {
			return "{token:" + name() + "}";
		}

	}

	/** A query parameter, its value raw; {@code {id}} and token placeholders are resolved when sent. */
	record Param(String name, String value) {

		@Override
		public String toString() {
			return this.name + "=" + HostileHttp.printable(this.value, 60);
		}

	}

	/**
	 * What a request presents as {@code Authorization} (none, one or several headers) and whom the
	 * service may take it for: empty when no key is valid, several when several headers carry valid keys.
	 */
	record Credentials(String label, List<String> authorization, Set<String> identities) {

		static final Credentials NONE = new Credentials("no key", List.of(), Set.of());

		static Credentials valid(String name) {
			return new Credentials(name + "'s key", List.of("Bearer " + key(name)), Set.of(name));
		}

		static Credentials of(String label, String value, @Nullable String identity) {
			return new Credentials(label, List.of(value), (identity != null) ? Set.of(identity) : Set.of());
		}

		@Override
		public String toString() {
			return this.label + ((this.authorization.isEmpty()) ? ""
					: " " + this.authorization.stream().map(value -> HostileHttp.printable(value, 60)).toList());
		}

	}

	/** A header as written on the wire (UTF-8, so non-ASCII values go out as their UTF-8 bytes). */
	record Header(String name, String value) {

		@Override
		public String toString() {
			return this.name + ": " + HostileHttp.printable(this.value, 80);
		}

	}

	/** How a body's length is told. */
	enum Framing {

		LENGTH, CHUNKED

	}

	/** A request body, with a label for reports; no bytes means no body at all. */
	record Body(String label, byte @Nullable [] bytes, Framing framing) {

		static final Body NONE = new Body("none", null, Framing.LENGTH);

		static Body of(String label, String text) {
			return new Body(label, text.getBytes(StandardCharsets.UTF_8), Framing.LENGTH);
		}

		static Body of(String label, byte[] bytes) {
			return new Body(label, bytes, Framing.LENGTH);
		}

		Body framed(Framing framing) {
			return new Body(this.label, this.bytes, framing);
		}

		@Override
		public String toString() {
			byte[] bytes = this.bytes;
			if (bytes == null) {
				return "none";
			}
			return this.label + " (" + bytes.length + " bytes, " + this.framing + ") "
					+ HostileHttp.printable(new String(bytes, StandardCharsets.UTF_8), 160);
		}

	}

	/** The request's {@code Host}: the service's own (by default), another, or none at all. */
	record Host(String label, @Nullable String value) {

		static final Host DEFAULT = new Host("default", "localhost");

		@Override
		public String toString() {
			return (this.value != null) ? HostileHttp.printable(this.value, 60) : "(none)";
		}

	}

	/** One hostile request, described symbolically (victims by name) so that failures read well. */
	record HostileRequest(String method, Endpoint endpoint, PathShape shape, IdRef id, List<Param> query,
			Credentials credentials, List<Header> headers, Host host, Body body) {

		/**
		 * The same request, except that one whose credentials could legitimately change a live victim
		 * (its owner's key or the administrator's, in any of its Authorization headers) is aimed at the
		 * completed victim instead: that one must not change whoever asks.
		 */
		HostileRequest safe() {
			Victim victim = this.id.victim();
			if (victim == null || !victim.live) {
				return this;
			}
			Set<String> identities = this.credentials.identities();
			if (identities.contains(victim.owner) || identities.contains(OPS)) {
				IdRef completed = IdRef.of(Victim.COMPLETED, this.id.shape());
				return new HostileRequest(this.method, this.endpoint, this.shape, completed, this.query,
						this.credentials, this.headers, this.host, this.body);
			}
			return this;
		}

		boolean head() {
			return this.method.equals("HEAD");
		}

		/** Whether the path is the OpenAI door's, where errors are OpenAI's error objects. */
		boolean openAiPath() {
			String path = this.shape.apply(this.endpoint.template);
			if (path.startsWith("http://localhost")) {
				path = path.substring("http://localhost".length());
			}
			// The path as the server matches it: without the query, nor a fragment the request line carried.
			for (char end : new char[] { '?', '#' }) {
				int at = path.indexOf(end);
				if (at >= 0) {
					path = path.substring(0, at);
				}
			}
			return path.startsWith("/v1/chat/") || path.equals("/v1/models") || path.startsWith("/v1/models/");
		}

		/** The victim this request is about (in its path, or as a list's cursor), if any. */
		@Nullable Victim targetedVictim() {
			if (this.endpoint.hasId()) {
				return this.id.victim();
			}
			if (this.endpoint == Endpoint.STREAMS && (this.method.equals("GET") || this.method.equals("HEAD"))) {
				Param after = first("after");
				return (after != null && after.value().equals("{id}")) ? this.id.victim() : null;
			}
			return null;
		}

		/** Whether the request attaches with a valid token for this victim, as the only credential. */
		boolean presentsValidTokenFor(Victim victim) {
			Param token = first("token");
			if (token == null || !this.credentials.authorization().isEmpty() || !this.method.equals("GET")) {
				return false;
			}
			return (victim == Victim.COMPLETED && token.value().equals(TokenRef.COMPLETED.placeholder()))
					|| (victim == Victim.RUNNING && token.value().equals(TokenRef.RUNNING.placeholder()));
		}

		private @Nullable Param first(String name) {
			return this.query.stream().filter(param -> param.name().equals(name)).findFirst().orElse(null);
		}

		String target(Service service) {
			String id = this.id.render(service);
			String target = this.shape.apply(this.endpoint.template).replace("{id}", id);
			if (!this.query.isEmpty()) {
				target += "?" + this.query.stream()
					.map(param -> param.name() + "=" + resolve(param.value(), id, service))
					.collect(Collectors.joining("&"));
			}
			return target;
		}

		private static String resolve(String value, String id, Service service) {
			String resolved = value.replace("{id}", id);
			for (Map.Entry<String, String> token : service.tokens().entrySet()) {
				resolved = resolved.replace(token.getKey(), token.getValue());
			}
			return resolved;
		}

		/** The request's bytes, exactly. */
		byte[] wire(Service service) {
			StringBuilder head = new StringBuilder();
			head.append(this.method).append(' ').append(target(service)).append(" HTTP/1.1\r\n");
			if (this.host.value() != null) {
				head.append("Host: ")
					.append(this.host.equals(Host.DEFAULT) ? "localhost:" + service.port() : this.host.value())
					.append("\r\n");
			}
			for (String value : this.credentials.authorization()) {
				head.append("Authorization: ").append(value).append("\r\n");
			}
			for (Header header : this.headers) {
				head.append(header.name()).append(": ").append(header.value()).append("\r\n");
			}
			head.append("Connection: close\r\n");
			byte[] body = this.body.bytes();
			ByteArrayOutputStream wire = new ByteArrayOutputStream();
			if (body == null) {
				head.append("\r\n");
				wire.writeBytes(head.toString().getBytes(StandardCharsets.UTF_8));
			}
			else if (this.body.framing() == Framing.LENGTH) {
				head.append("Content-Length: ").append(body.length).append("\r\n\r\n");
				wire.writeBytes(head.toString().getBytes(StandardCharsets.UTF_8));
				wire.writeBytes(body);
			}
			else {
				head.append("Transfer-Encoding: chunked\r\n\r\n");
				wire.writeBytes(head.toString().getBytes(StandardCharsets.UTF_8));
				for (int at = 0; at < body.length; at += 1000) {
					int size = Math.min(1000, body.length - at);
					wire.writeBytes((Integer.toHexString(size) + "\r\n").getBytes(StandardCharsets.US_ASCII));
					wire.write(body, at, size);
					wire.writeBytes("\r\n".getBytes(StandardCharsets.US_ASCII));
				}
				wire.writeBytes("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
			}
			return wire.toByteArray();
		}

		@Override
		public String toString() {
			String path = this.shape.apply(this.endpoint.template).replace("{id}", this.id.toString());
			String query = this.query.isEmpty() ? ""
					: "?" + this.query.stream().map(Param::toString).collect(Collectors.joining("&"));
			return "\n  " + this.method + " " + HostileHttp.printable(path, 200) + query + "\n  credentials: "
					+ this.credentials + "\n  headers: " + this.headers + "\n  host: " + this.host + "\n  body: "
					+ this.body;
		}

	}

	// ---------------------------------------------------------------------------------------------
	// Generators

	@Provide
	Arbitrary<HostileRequest> anyRequests() {
		return Combinators
			.combine(methods(), Arbitraries.of(Endpoint.values()), pathShapes(), ids(), queries(), credentials(),
					headers(contentTypes(), accepts()), bodies())
			.as((method, endpoint, shape, id, query, credentials, head, body) -> new HostileRequest(method, endpoint,
					shape, id, query, credentials, head.headers(), head.host(), body))
			.map(HostileRequest::safe);
	}

	@Provide
	Arbitrary<HostileRequest> startRequests() {
		Arbitrary<String> methods = Arbitraries.frequencyOf(
				Tuple.of(12, Arbitraries.just("POST")),
				Tuple.of(1, methods()));
		Arbitrary<PathShape> shapes = Arbitraries.frequencyOf(
				Tuple.of(12, Arbitraries.just(PathShape.PLAIN)),
				Tuple.of(1, pathShapes()));
		Arbitrary<Credentials> credentials = Arbitraries.frequencyOf(
				Tuple.of(4, Arbitraries.just(Credentials.valid(ALICE))),
				Tuple.of(4, Arbitraries.just(Credentials.valid(BOB))),
				Tuple.of(1, Arbitraries.just(Credentials.valid(OPS))),
				Tuple.of(2, credentials()));
		Arbitrary<List<Header>> contentTypes = Arbitraries.frequencyOf(
				Tuple.of(8, Arbitraries.just(List.of(new Header("Content-Type", "application/json")))),
				Tuple.of(2, contentTypes()));
		Arbitrary<Body> startBodies = Arbitraries.frequencyOf(
				Tuple.of(8, startBodies().map(json -> Body.of("start request", json))),
				Tuple.of(1, chatBodies().map(json -> Body.of("chat request", json))),
				Tuple.of(4, hostileBodies()));
		Arbitrary<Body> chatBodies = Arbitraries.frequencyOf(
				Tuple.of(8, chatBodies().map(json -> Body.of("chat request", json))),
				Tuple.of(1, startBodies().map(json -> Body.of("start request", json))),
				Tuple.of(4, hostileBodies()));
		Arbitrary<Tuple.Tuple2<Endpoint, Body>> targets = Arbitraries.oneOf(
				Combinators.combine(Arbitraries.just(Endpoint.STREAMS), startBodies, framings())
					.as((endpoint, body, framing) -> Tuple.of(endpoint, body.framed(framing))),
				Combinators.combine(Arbitraries.just(Endpoint.CHAT), chatBodies, framings())
					.as((endpoint, body, framing) -> Tuple.of(endpoint, body.framed(framing))));
		return Combinators.combine(methods, targets, shapes, queries(), credentials, headers(contentTypes, accepts()))
			.as((method, target, shape, query, credential, head) -> new HostileRequest(method, target.get1(), shape,
					IdRef.literal(UNKNOWN_ID), query, credential, head.headers(), head.host(), target.get2()))
			.map(HostileRequest::safe);
	}

	@Provide
	Arbitrary<HostileRequest> streamRequests() {
		Arbitrary<Endpoint> endpoints = Arbitraries.frequencyOf(
				Tuple.of(3, Arbitraries.just(Endpoint.STATUS)),
				Tuple.of(4, Arbitraries.just(Endpoint.EVENTS)),
				Tuple.of(3, Arbitraries.just(Endpoint.CANCEL)),
				Tuple.of(2, Arbitraries.just(Endpoint.ATTACH_TOKEN)),
				Tuple.of(2, Arbitraries.just(Endpoint.STREAMS)),
				Tuple.of(1, Arbitraries.just(Endpoint.SUB_RESOURCE)));
		Arbitrary<String> methods = Arbitraries.frequencyOf(
				Tuple.of(4, Arbitraries.just("GET")),
				Tuple.of(4, Arbitraries.just("POST")),
				Tuple.of(1, methods()));
		Arbitrary<PathShape> shapes = Arbitraries.frequencyOf(
				Tuple.of(6, Arbitraries.just(PathShape.PLAIN)),
				Tuple.of(2, pathShapes()));
		Arbitrary<IdRef> ids = Arbitraries.frequencyOf(
				Tuple.of(6, Arbitraries.of(Victim.values()).map(victim -> IdRef.of(victim, IdShape.EXACT))),
				Tuple.of(2, ids()));
		Arbitrary<Credentials> credentials = Arbitraries.frequencyOf(
				Tuple.of(4, Arbitraries.just(Credentials.valid(BOB))),
				Tuple.of(2, Arbitraries.just(Credentials.valid(ALICE))),
				Tuple.of(2, Arbitraries.just(Credentials.valid(OPS))),
				Tuple.of(3, Arbitraries.just(Credentials.NONE)),
				Tuple.of(3, credentials()));
		Arbitrary<Body> bodies = Arbitraries.frequencyOf(
				Tuple.of(6, Arbitraries.just(Body.NONE)),
				Tuple.of(1, bodies()));
		return Combinators
			.combine(methods, endpoints, shapes, ids, tokenQueries(), credentials,
					headers(Arbitraries.just(List.of()), accepts()), bodies)
			.as((method, endpoint, shape, id, query, credential, head, body) -> new HostileRequest(method, endpoint,
					shape, id, query, credential, head.headers(), head.host(), body))
			.map(HostileRequest::safe);
	}

	static Arbitrary<String> methods() {
		return Arbitraries.frequencyOf(
				Tuple.of(4, Arbitraries.just("GET")),
				Tuple.of(4, Arbitraries.just("POST")),
				Tuple.of(3, Arbitraries.of("PUT", "DELETE", "PATCH", "OPTIONS", "HEAD")),
				Tuple.of(1, Arbitraries.of("TRACE", "get", "Post", "BREW", "PROPFIND", "M-SEARCH", "X")));
	}

	static Arbitrary<PathShape> pathShapes() {
		return Arbitraries.frequencyOf(
				Tuple.of(8, Arbitraries.just(PathShape.PLAIN)),
				Tuple.of(4, Arbitraries.of(PathShape.values())));
	}

	static Arbitrary<IdRef> ids() {
		List<String> hostile = List.of("", "abc", "str_", "str_" + "g".repeat(32), "str_" + "a".repeat(31),
				"str_" + "a".repeat(33), "STR_" + "0".repeat(32), "str_\u0660\u0661" + "0".repeat(30), "%2e%2e", "..",
				".", "%00", "%2f", "%2F..%2F", "%252e%252e", "%c0%ae%c0%ae", "%ff%fe", "%", "%%", "%u002e", "\u00e9",
				"\ud83d\udca5", "\u202e" + UNKNOWN_ID, "str_\u00e9", "${jndi:ldap://x/a}", "<script>",
				"'%20OR%201=1--", "null", "undefined", "-1", "0", "99999999999999999999999",
				"str_%30123456789abcdef0123456789abcdef", UNKNOWN_ID + "/", UNKNOWN_ID + "%2fcancel", "*", "~", "\\",
				"a;b", "%3Bb");
		return Arbitraries.frequencyOf(
				Tuple.of(6, Combinators.combine(Arbitraries.of(Victim.values()), idShapes()).as(IdRef::of)),
				Tuple.of(2, Arbitraries.just(IdRef.literal(UNKNOWN_ID))),
				Tuple.of(3, Arbitraries.of(hostile).map(IdRef::literal)),
				Tuple.of(1, Arbitraries.integers().between(100, 4500).map(n -> IdRef.literal("str_" + "a".repeat(n)))),
				Tuple.of(1, Arbitraries.strings().all().excludeChars('\r', '\n').ofMaxLength(16).map(IdRef::literal)));
	}

	static Arbitrary<IdShape> idShapes() {
		return Arbitraries.frequencyOf(
				Tuple.of(6, Arbitraries.just(IdShape.EXACT)),
				Tuple.of(3, Arbitraries.of(IdShape.values())));
	}

	static Arbitrary<List<Param>> queries() {
		return Arbitraries.frequencyOf(
				Tuple.of(4, Arbitraries.just(List.<Param>of())),
				Tuple.of(3, params().list().ofMinSize(1).ofMaxSize(3)));
	}

	/** Queries that mostly carry an attach token. */
	static Arbitrary<List<Param>> tokenQueries() {
		return Arbitraries.frequencyOf(
				Tuple.of(3, Arbitraries.just(List.<Param>of())),
				Tuple.of(3, tokenValues().map(value -> List.of(new Param("token", value)))),
				Tuple.of(3, params().list().ofMinSize(1).ofMaxSize(3)));
	}

	static Arbitrary<Param> params() {
		List<String> hostileNumbers = List.of("", "-1", "abc", "1.5", " 2", "%2B1", "0x1", "%00", "9223372036854775807",
				"9223372036854775808", "99999999999999999999", "1e2", "NaN", "%E2%82%AC", "\u00e9", "1,2", "%20", "+");
		Arbitrary<Param> after = Arbitraries
			.frequencyOf(
					Tuple.of(3, Arbitraries.of("{id}", "0", "1", "3", UNKNOWN_ID)),
					Tuple.of(2, Arbitraries.of(hostileNumbers)),
					Tuple.of(1, Arbitraries.integers().between(20, 600).map("9"::repeat)))
			.map(value -> new Param("after", value));
		Arbitrary<Param> limit = Arbitraries
			.frequencyOf(
					Tuple.of(2, Arbitraries.of("1", "20", "100", "0", "101", "2147483648", "ten")),
					Tuple.of(1, Arbitraries.of(hostileNumbers)))
			.map(value -> new Param("limit", value));
		Arbitrary<Param> status = Arbitraries
			.of("queued", "in_progress", "completed", "failed", "cancelled", "running", "Completed", "IN_PROGRESS", "",
					"%00", "in_progress%00", "in_progress,completed", "\u00e9", "x".repeat(600))
			.map(value -> new Param("status", value));
		Arbitrary<Param> token = tokenValues().map(value -> new Param("token", value));
		Arbitrary<Param> other = Combinators
			.combine(Arbitraries.of("x", "", "after[]", "__proto__", "Token", "TOKEN", "limit[]", "a%00b", "\u00e9"),
					Arbitraries.of("", "1", "%", "%zz", "\u00e9", "x".repeat(500)))
			.as(Param::new);
		return Arbitraries.frequencyOf(Tuple.of(3, after), Tuple.of(2, limit), Tuple.of(2, status), Tuple.of(3, token),
				Tuple.of(1, other));
	}

	static Arbitrary<String> tokenValues() {
		List<String> placeholders = new ArrayList<>();
		for (TokenRef token : TokenRef.values()) {
			placeholders.add(token.placeholder());
		}
		List<String> junk = List.of("", "x", "a.b", ".", "..", "a.b.c", "%2e", "%00", "\u00e9.\u00e9",
				TokenRef.COMPLETED.placeholder() + "x", "x" + TokenRef.RUNNING.placeholder(), "x".repeat(1100));
		String base64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		return Arbitraries.frequencyOf(
				Tuple.of(5, Arbitraries.of(placeholders)),
				Tuple.of(2, Arbitraries.of(junk)),
				Tuple.of(1, Arbitraries.strings().withChars(base64url + ".").ofMaxLength(200)));
	}

	static Arbitrary<Credentials> credentials() {
		String hashOfAlice;
		try {
			hashOfAlice = sha256(key(ALICE));
		}
		catch (NoSuchAlgorithmException ex) {
			throw new IllegalStateException(ex);
		}
		String basic = Base64.getEncoder().encodeToString("alice:sk-alice".getBytes(StandardCharsets.UTF_8));
		List<Credentials> loose = List.of(
				Credentials.of("alice's key, lower-case scheme", "bearer sk-alice", ALICE),
				Credentials.of("alice's key, upper-case scheme, spaces", "BEARER   sk-alice   ", ALICE),
				Credentials.of("alice's key after a tab", "Bearer\tsk-alice", ALICE));
		List<Credentials> wrong = List.of(
				Credentials.of("unknown key", "Bearer sk-mallory", null),
				Credentials.of("alice's key plus a character", "Bearer sk-alicex", null),
				Credentials.of("alice's key upper-cased", "Bearer SK-ALICE", null),
				Credentials.of("alice's key minus a character", "Bearer sk-alic", null),
				Credentials.of("alice's hash as the key", "Bearer " + hashOfAlice, null),
				Credentials.of("scheme only", "Bearer", null),
				Credentials.of("scheme and a space", "Bearer ", null),
				Credentials.of("basic", "Basic " + basic, null),
				Credentials.of("key without scheme", "sk-alice", null),
				Credentials.of("other scheme", "Token sk-alice", null),
				Credentials.of("two keys in one", "Bearer sk-alice sk-bob", null),
				Credentials.of("two credentials in one", "Bearer sk-alice, Bearer sk-bob", null),
				Credentials.of("equals sign", "Bearer=sk-alice", null),
				Credentials.of("colon", "Bearer: sk-alice", null),
				Credentials.of("quoted key", "Bearer \"sk-alice\"", null),
				Credentials.of("empty", "", null),
				Credentials.of("comma", ",", null),
				Credentials.of("digest", "Digest username=\"alice\"", null),
				Credentials.of("NUL in the key", "Bearer sk-alice\u0000", null),
				Credentials.of("DEL in the key", "Bearer sk-bob\u007f", null),
				Credentials.of("non-ASCII key", "Bearer sk-\u00e5lice", null),
				Credentials.of("no-break space after the key", "Bearer sk-alice\u00a0", null),
				Credentials.of("CJK key", "Bearer \u4e2d\u6587", null),
				Credentials.of("emoji key", "Bearer \ud83d\udd11", null));
		// Several Authorization headers: the service may take any valid one of them (or refuse).
		List<Credentials> duplicated = List.of(
				new Credentials("unknown key, then alice's", List.of("Bearer sk-mallory", "Bearer sk-alice"),
						Set.of(ALICE)),
				new Credentials("bob's key, then alice's", List.of("Bearer sk-bob", "Bearer sk-alice"),
						Set.of(ALICE, BOB)),
				new Credentials("alice's key, then none", List.of("Bearer sk-alice", ""), Set.of(ALICE)),
				new Credentials("bob's key, then ops'", List.of("Bearer sk-bob", "Bearer sk-ops"), Set.of(BOB, OPS)));
		Arbitrary<Credentials> huge = Arbitraries.integers()
			.between(500, 12000)
			.map(n -> Credentials.of("huge key (" + n + ")", "Bearer " + "k".repeat(n), null));
		Arbitrary<Credentials> random = headerValues()
			.map(text -> Credentials.of("random key", "Bearer " + text, null));
		return Arbitraries.frequencyOf(
				Tuple.of(4, Arbitraries.just(Credentials.valid(ALICE))),
				Tuple.of(4, Arbitraries.just(Credentials.valid(BOB))),
				Tuple.of(1, Arbitraries.just(Credentials.valid(OPS))),
				Tuple.of(3, Arbitraries.just(Credentials.NONE)),
				Tuple.of(1, Arbitraries.of(loose)),
				Tuple.of(4, Arbitraries.of(wrong)),
				Tuple.of(1, Arbitraries.of(duplicated)),
				Tuple.of(1, huge),
				Tuple.of(1, random));
	}

	/** The head besides the request line, the credentials and the framing. */
	record Head(List<Header> headers, Host host) {
	}

	static Arbitrary<Head> headers(Arbitrary<List<Header>> contentTypes, Arbitrary<List<Header>> accepts) {
		Arbitrary<List<Header>> lastEventIds = Arbitraries.frequencyOf(
				Tuple.of(6, Arbitraries.just(List.<Header>of())),
				Tuple.of(2, Arbitraries.of("0", "1", "2", "3", "-1", "abc", "1.5", "9".repeat(25), " 2 ", "", "\u00e9",
						"0x10", "+3", "1e3", "9223372036854775807", "%31", "1\u0000", "x".repeat(6000))
					.map(value -> List.of(new Header("Last-Event-ID", value)))));
		Arbitrary<List<Header>> origins = Arbitraries.frequencyOf(
				Tuple.of(8, Arbitraries.just(List.<Header>of())),
				Tuple.of(1, Arbitraries.of(ALLOWED_ORIGIN, "https://evil.example", "null", "", "javascript:alert(1)",
						"https://app.example.com.evil.example", "http://localhost", "\u00e9",
						"https://" + "o".repeat(5000))
					.map(origin -> List.of(new Header("Origin", origin)))),
				Tuple.of(1, Combinators
					.combine(Arbitraries.of(ALLOWED_ORIGIN, "https://evil.example"),
							Arbitraries.of("GET", "POST", "DELETE", "", "\u00e9"),
							Arbitraries.of("authorization", "authorization, content-type, x-evil", ""))
					.as((origin, method, headers) -> List.of(new Header("Origin", origin),
							new Header("Access-Control-Request-Method", method),
							new Header("Access-Control-Request-Headers", headers)))));
		Arbitrary<Header> fixed = Arbitraries.of(new Header("X-Forwarded-For", "10.0.0.1, evil"),
				new Header("X-Forwarded-Host", "evil.example"), new Header("X-Forwarded-Proto", "gopher"),
				new Header("Forwarded", "for=evil;host=evil;proto=https"),
				new Header("X-Forwarded-Prefix", "/../admin"),
				new Header("Cookie", "SESSION=x; JSESSIONID=y"), new Header("Expect", "100-continue"),
				new Header("Content-Encoding", "gzip"), new Header("Range", "bytes=0-1"),
				new Header("If-None-Match", "*"), new Header("Accept-Charset", "utf-16"),
				new Header("Accept-Encoding", "gzip, br, zstd"), new Header("Upgrade", "websocket"),
				new Header("TE", "trailers"), new Header("X-HTTP-Method-Override", "DELETE"),
				new Header("X-Stream-Id", UNKNOWN_ID), new Header("Content-Language", "\u00e9"),
				new Header("X-Empty", ""));
		Arbitrary<Header> random = Combinators
			.combine(Arbitraries.strings().withCharRange('a', 'z').ofMinLength(1).ofMaxLength(20), headerValues())
			.as((name, value) -> new Header("X-" + name, value));
		Arbitrary<Header> huge = Arbitraries.integers()
			.between(1000, 10000)
			.map(n -> new Header("X-Huge", "h".repeat(n)));
		Arbitrary<List<Header>> many = Arbitraries.integers()
			.between(50, 400)
			.map(n -> IntStream.range(0, n).mapToObj(i -> new Header("X-Many-" + i, "v")).toList());
		Arbitrary<List<Header>> others = Arbitraries.frequencyOf(
				Tuple.of(6, Arbitraries.just(List.<Header>of())),
				Tuple.of(3, Arbitraries.oneOf(fixed, random, huge).list().ofMinSize(1).ofMaxSize(3)),
				Tuple.of(1, many));
		Arbitrary<Host> hosts = Arbitraries.frequencyOf(
				Tuple.of(12, Arbitraries.just(Host.DEFAULT)),
				Tuple.of(1, Arbitraries.of(new Host("none", null), new Host("evil", "evil.example"),
						new Host("empty", ""), new Host("port 1", "localhost:1"), new Host("bad IPv6", "[::1"),
						new Host("space", "a b"), new Host("two", "localhost, evil.example"),
						new Host("non-ASCII", "\u00fcnic\u00f8de.example"),
						new Host("userinfo", "user:pass@evil.example"),
						new Host("huge port", "localhost:99999999999"))));
		return Combinators.combine(contentTypes, accepts, lastEventIds, origins, others, hosts)
			.as((contentType, accept, lastEventId, origin, other, host) -> {
				List<Header> all = new ArrayList<>();
				all.addAll(contentType);
				all.addAll(accept);
				all.addAll(lastEventId);
				all.addAll(origin);
				all.addAll(other);
				return new Head(List.copyOf(all), host);
			});
	}

	/**
	 * Header values: mostly printable (ASCII or not), sometimes with control characters, which Netty
	 * refuses before the application sees them. Never CR or LF, which would end the header.
	 */
	static Arbitrary<String> headerValues() {
		return Arbitraries.frequencyOf(
				Tuple.of(3, Arbitraries.strings().withCharRange(' ', '~').ofMaxLength(100)),
				Tuple.of(2, Arbitraries.strings().withCharRange(' ', '\u2fff').ofMaxLength(60)),
				Tuple.of(1, Arbitraries.strings().all().excludeChars('\r', '\n').ofMaxLength(60)));
	}

	static Arbitrary<List<Header>> contentTypes() {
		Arbitrary<String> hostile = Arbitraries.of("application/json; charset=utf-8",
				"application/json;charset=UTF-16", "application/json; charset=no-such-charset", "text/plain",
				"application/x-www-form-urlencoded", "multipart/form-data; boundary=zz", "application/problem+json",
				"application/*", "*/*", ";;;", "", "application/json, text/plain", "application/js\u00f6n",
				"application/json; charset=\"utf-8\"; x", "application/x-ndjson", "text/event-stream",
				"application/json" + ";a=b".repeat(500));
		return Arbitraries.frequencyOf(
				Tuple.of(4, Arbitraries.just(List.<Header>of())),
				Tuple.of(4, Arbitraries.just(List.of(new Header("Content-Type", "application/json")))),
				Tuple.of(3, hostile.map(type -> List.of(new Header("Content-Type", type)))),
				Tuple.of(1, Arbitraries.just(List.of(new Header("Content-Type", "text/plain"),
						new Header("Content-Type", "application/json")))));
	}

	static Arbitrary<List<Header>> accepts() {
		Arbitrary<String> hostile = Arbitraries.of("*/*", "application/json", "text/event-stream;q=0",
				"text/event-stream;;q=x/", "application/xml", "text/html", "", "*/*;q=abc", "application/problem+json",
				"text/*", "text/event-stream, application/json;q=0.5", "application/json;q=2", "\u00e9/\u00e9",
				"text/event-stream;charset=utf-16", String.join(", ", Collections.nCopies(51, "*/*")),
				"*/*" + ", */*".repeat(1000));
		return Arbitraries.frequencyOf(
				Tuple.of(4, Arbitraries.just(List.<Header>of())),
				Tuple.of(3, Arbitraries.just(List.of(new Header("Accept", "text/event-stream")))),
				Tuple.of(3, hostile.map(accept -> List.of(new Header("Accept", accept)))));
	}

	static Arbitrary<Framing> framings() {
		return Arbitraries.frequencyOf(
				Tuple.of(4, Arbitraries.just(Framing.LENGTH)),
				Tuple.of(1, Arbitraries.just(Framing.CHUNKED)));
	}

	static Arbitrary<Body> bodies() {
		Arbitrary<Body> bodies = Arbitraries.frequencyOf(
				Tuple.of(2, startBodies().map(json -> Body.of("start request", json))),
				Tuple.of(1, chatBodies().map(json -> Body.of("chat request", json))),
				Tuple.of(2, hostileBodies()));
		return Arbitraries.frequencyOf(
				Tuple.of(4, Arbitraries.just(Body.NONE)),
				Tuple.of(5, Combinators.combine(bodies, framings()).as(Body::framed)));
	}

	/** Bodies that are not a request of either door: malformed, odd, huge, deep, binary. */
	static Arbitrary<Body> hostileBodies() {
		Arbitrary<Body> odd = Arbitraries
			.of("", "null", "[]", "{}", "\"hi\"", "0", "true", "{\"prompt\":\"hi\"}{\"prompt\":\"hi\"}",
					"{\"prompt\":\"hi\"} x", "{'prompt':'hi'}", "{\"prompt\":\"hi\",}", "{\"prompt\":\"hi\" /* c */}",
					"\ufeff{\"prompt\":\"hi\"}", "{\"prompt\":NaN}", "{\"prompt\":\"hi\",\"max_tokens\":Infinity}",
					"{\"prompt\":\"\\uDEAD\"}", "{\"prompt\":\"hi\u0000\"}", "<xml/>", "prompt=hi",
					"--zz\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nhi\r\n--zz--",
					"{\"prompt\":\"hi\"\u0000}", "{\"prompt\"::\"hi\"}", "{\"prompt\":\"hi\"",
					"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}", "{{}}",
					"{\"a\":1,\"a\":2,\"prompt\":\"x\"}",
					"\"\\u0000\"", "[" + "1,".repeat(5000) + "1]")
			.map(text -> Body.of("odd document", text));
		Arbitrary<Body> random = Arbitraries.bytes()
			.array(byte[].class)
			.ofMaxSize(2000)
			.map(bytes -> Body.of("random bytes", bytes));
		Arbitrary<Body> truncated = Arbitraries.oneOf(startBodies(), chatBodies())
			.flatMap(json -> Arbitraries.integers()
				.between(0, Math.max(0, json.length() - 1))
				.map(end -> Body.of("truncated request", json.substring(0, end))));
		Arbitrary<Body> deep = Combinators
			.combine(Arbitraries.integers().between(1, 4000),
					Arbitraries.of("array", "object", "in metadata", "in messages", "unclosed"))
			.as((depth, where) -> Body.of("nested " + depth + " deep, " + where, nested(depth, where)));
		Arbitrary<Body> huge = Combinators
			.combine(Arbitraries.integers().between(1000, 3 * MAX_BODY_BYTES),
					Arbitraries.of("prompt", "number", "key", "whitespace"))
			.as((size, what) -> Body.of("huge " + what + " (" + size + ")", huge(size, what)));
		Arbitrary<byte[]> invalid = Arbitraries.of(new byte[] { (byte) 0xff }, new byte[] { (byte) 0xc0, (byte) 0xae },
				new byte[] { (byte) 0xed, (byte) 0xa0, (byte) 0x80 }, new byte[] { (byte) 0xe2, (byte) 0x82 },
				new byte[] { (byte) 0xf8, (byte) 0x88, (byte) 0x80, (byte) 0x80, (byte) 0x80 }, new byte[] { 0 });
		Arbitrary<Body> invalidUtf8 = Combinators
			.combine(startBodies(), invalid, Arbitraries.integers().between(0, 100))
			.as((json, bad, at) -> {
				byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
				int cut = Math.min(at, bytes.length);
				ByteArrayOutputStream out = new ByteArrayOutputStream();
				out.write(bytes, 0, cut);
				out.writeBytes(bad);
				out.write(bytes, cut, bytes.length - cut);
				return Body.of("invalid UTF-8 at " + cut, out.toByteArray());
			});
		return Arbitraries.frequencyOf(Tuple.of(3, odd), Tuple.of(2, random), Tuple.of(2, truncated), Tuple.of(2, deep),
				Tuple.of(2, huge), Tuple.of(2, invalidUtf8));
	}

	static String nested(int depth, String where) {
		String open = "{\"a\":".repeat(depth);
		String close = "}".repeat(depth);
		return switch (where) {
			case "array" -> "[".repeat(depth) + "]".repeat(depth);
			case "object" -> open + "1" + close;
			case "in metadata" -> "{\"prompt\":\"hi\",\"metadata\":" + open + "\"v\"" + close + "}";
			case "in messages" -> "{\"messages\":[{\"role\":\"user\",\"content\":" + "[".repeat(depth)
					+ "]".repeat(depth) + "}]}";
			default -> "{\"prompt\":" + "[".repeat(depth);
		};
	}

	static String huge(int size, String what) {
		return switch (what) {
			case "prompt" -> "{\"prompt\":\"" + "p".repeat(size) + "\",\"max_tokens\":1}";
			case "number" -> "{\"prompt\":\"hi\",\"max_tokens\":1" + "0".repeat(size) + "}";
			case "key" -> "{\"" + "k".repeat(size) + "\":1,\"prompt\":\"hi\"}";
			default -> " ".repeat(size) + "{\"prompt\":\"hi\",\"max_tokens\":1}";
		};
	}

	/**
	 * Native start requests: each field absent, valid or hostile, and sometimes a duplicated key.
	 * Valid ones ask for at most 3 tokens, so the streams they start end at once.
	 */
	static Arbitrary<String> startBodies() {
		Arbitrary<String> prompt = member("prompt", 6, 3, validText(), hostileStrings());
		Arbitrary<String> messages = member("messages", 6, 3, Arbitraries.of(VALID_MESSAGES), hostileMessages());
		Arbitrary<String> content = Arbitraries.frequencyOf(
				Tuple.of(5, prompt),
				Tuple.of(4, messages),
				Tuple.of(1, Combinators.combine(prompt, messages).as((p, m) -> p + "," + m)),
				Tuple.of(1, Arbitraries.just("")));
		return object(List.of(
				optional(member("model", 6, 3, Arbitraries.just("\"simulated\""), hostileModels())),
				content,
				optional(member("max_tokens", 6, 3, Arbitraries.of("1", "2", "3"), hostileIntegers())),
				optional(member("temperature", 6, 3, Arbitraries.of("0", "0.7", "2", "1.0"), hostileNumbers())),
				optional(member("background", 6, 3, Arbitraries.of("true", "false"), hostileBooleans())),
				optional(member("metadata", 6, 3, Arbitraries.of("{}", "{\"user_id\":\"u-42\"}"), hostileMetadata())),
				rarely(extraMembers())));
	}

	/** OpenAI chat requests, likewise; valid ones ask for at most 3 tokens. */
	static Arbitrary<String> chatBodies() {
		Arbitrary<String> messages = Arbitraries.frequencyOf(
				Tuple.of(4, Arbitraries.of(VALID_MESSAGES)),
				Tuple.of(1, Arbitraries.of("[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}]",
						"[{\"role\":\"developer\",\"content\":\"x\"},{\"role\":\"user\",\"content\":\"hi\"}]")));
		Arbitrary<String> hostileMessages = Arbitraries.oneOf(hostileMessages(), Arbitraries.of(
				"[{\"role\":\"tool\",\"content\":\"42\",\"tool_call_id\":\"c\"}]",
				"[{\"role\":\"function\",\"content\":\"42\",\"name\":\"f\"}]",
				"[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]",
				"[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\","
						+ "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}]",
				"[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]",
				"[{\"role\":\"user\",\"content\":[null]}]"));
		Arbitrary<String> options = Arbitraries.of("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]",
				"\"tools\":\"x\"", "\"tools\":[null]", "\"tool_choice\":5", "\"tool_choice\":\"auto\"",
				"\"logprobs\":true", "\"top_logprobs\":5", "\"user\":\"u\"", "\"seed\":1", "\"stop\":[\"x\"]",
				"\"stop\":5", "\"response_format\":\"x\"", "\"functions\":[{\"name\":\"f\"}]",
				"\"logit_bias\":{\"50256\":-100}", "\"logit_bias\":\"x\"", "\"top_p\":7", "\"metadata\":[1]",
				"\"metadata\":{\"k\":1}", "\"stream_options\":{\"include_usage\":true}");
		return object(List.of(
				optional(member("model", 6, 3, Arbitraries.just("\"simulated\""), hostileModels())),
				member("messages", 8, 3, messages, hostileMessages),
				optional(member("stream", 6, 2, Arbitraries.of("true", "false"), hostileBooleans())),
				optional(member("stream_options", 3, 2, Arbitraries.of("{\"include_usage\":true}"),
						Arbitraries.of("{\"include_usage\":1}", "[]", "\"x\"", "{\"include_usage\":null}", "null"))),
				optional(member("max_tokens", 6, 2, Arbitraries.of("1", "2", "3"), hostileIntegers())),
				optional(member("max_completion_tokens", 2, 2, Arbitraries.of("1", "3"), hostileIntegers())),
				optional(member("temperature", 3, 2, Arbitraries.of("0", "1"), hostileNumbers())),
				optional(member("n", 2, 2, Arbitraries.of("1"),
						Arbitraries.of("2", "0", "\"1\"", "1.5", "-1", "null"))),
				rarely(options),
				rarely(extraMembers())));
	}

	static final List<String> VALID_MESSAGES = List.of("[{\"role\":\"user\",\"content\":\"hi\"}]",
			"[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hello\"}]",
			"[{\"role\":\"assistant\",\"content\":\"x\"},{\"role\":\"user\",\"content\":\"y\"}]");

	/** A JSON object of the members that are present, sometimes with its first member twice. */
	static Arbitrary<String> object(List<Arbitrary<String>> members) {
		return Combinators.combine(Combinators.combine(members).as(List::copyOf), Arbitraries.integers().between(0, 9))
			.as((all, variant) -> {
				List<String> present = all.stream().filter(member -> !member.isEmpty()).toList();
				List<String> written = new ArrayList<>(present);
				if (variant == 0 && !present.isEmpty()) {
					written.add(present.get(0));
				}
				else if (variant == 1) {
					Collections.reverse(written);
				}
				return "{" + String.join(",", written) + "}";
			});
	}

	/** {@code "name":value}, the value valid or hostile by weight. */
	static Arbitrary<String> member(String name, int validWeight, int hostileWeight, Arbitrary<String> valid,
			Arbitrary<String> hostile) {
		return Arbitraries.frequencyOf(Tuple.of(validWeight, valid), Tuple.of(hostileWeight, hostile))
			.map(value -> "\"" + name + "\":" + value);
	}

	/** The member, or nothing (a quarter of the time). */
	static Arbitrary<String> optional(Arbitrary<String> member) {
		return Arbitraries.frequencyOf(Tuple.of(3, member), Tuple.of(1, Arbitraries.just("")));
	}

	/** The member one time in eight, else nothing. */
	static Arbitrary<String> rarely(Arbitrary<String> member) {
		return Arbitraries.frequencyOf(Tuple.of(1, member), Tuple.of(7, Arbitraries.just("")));
	}

	static Arbitrary<String> validText() {
		return Arbitraries.frequencyOf(
				Tuple.of(2, Arbitraries.just("\"hi\"")),
				Tuple.of(1, Arbitraries.strings()
					.alpha()
					.numeric()
					.withChars(" .,!?")
					.ofMaxLength(40)
					.map(text -> jsonString("p " + text))));
	}

	static Arbitrary<String> hostileStrings() {
		return Arbitraries.oneOf(
				Arbitraries.of("42", "true", "null", "\"\"", "\" \\n\\t \"", "[\"hi\"]", "{}", "\"\\ud800\"",
						"\"\\udc00x\\ud800\"", "\"a\u0001b\"", "\"\\u0000\"", "\"\ud83d\udca5\ud83d\udca5\"",
						"\"${jndi:ldap://x/a}\"", "\"\u202eevil\"", "\"\\\"", "'hi'", "\"hi"),
				Arbitraries.strings().all().ofMaxLength(60).map(HostileInputPropertyTest::jsonString),
				Arbitraries.integers().between(200, 3 * MAX_BODY_BYTES).map(n -> "\"" + "x".repeat(n) + "\""));
	}

	static Arbitrary<String> hostileModels() {
		return Arbitraries.oneOf(
				Arbitraries.of("42", "null", "\"\"", "\"nope\"", "\"nowhere/simulated\"", "\"simulated/x\"",
						"\"../simulated\"", "\"SIMULATED\"", "\" simulated\"", "\"simulated\\u0000\"",
						"[\"simulated\"]", "{\"name\":\"simulated\"}", "true", "\"\u6a21\u578b\"",
						"\"" + "m".repeat(300) + "\"", "\"/\"", "\"openai/\"", "\"%2e%2e\""),
				Arbitraries.strings().all().ofMaxLength(30).map(HostileInputPropertyTest::jsonString));
	}

	static Arbitrary<String> hostileMessages() {
		String hi = "{\"role\":\"user\",\"content\":\"hi\"}";
		return Arbitraries.oneOf(
				Arbitraries.of("[]", "{}", "\"hi\"", "[null]", "[7]", "[[]]", "null",
						"[{\"role\":\"tool\",\"content\":\"x\"}]", "[{\"content\":\"x\"}]", "[{\"role\":\"user\"}]",
						"[{\"role\":\"user\",\"content\":42}]", "[{\"role\":\"User\",\"content\":\"x\"}]",
						"[{\"role\":\"user\",\"content\":\"hi\",\"role\":\"system\"}]",
						"[{\"role\":null,\"content\":null}]", "[{\"role\":\"user\",\"content\":{}}]",
						"[{\"role\":\"user\",\"content\":\"\"}]", "[{\"role\":\"\\u0000\",\"content\":\"x\"}]"),
				Arbitraries.integers()
					.between(2, 600)
					.map(n -> "[" + String.join(",", Collections.nCopies(n, hi)) + "]"),
				hostileStrings().map(text -> "[{\"role\":\"user\",\"content\":" + text + "}]"));
	}

	static Arbitrary<String> hostileIntegers() {
		return Arbitraries.oneOf(
				Arbitraries.of("0", "-1", "4097", "1.5", "\"2\"", "99999999999", "1e2", "1E400", "-0", "null", "true",
						"2147483648", "-2147483649", "[1]", "0x10", "+1", "01", "1.0", "{}"),
				Arbitraries.integers().between(20, 300).map("9"::repeat));
	}

	static Arbitrary<String> hostileNumbers() {
		return Arbitraries.oneOf(
				Arbitraries.of("-0.1", "2.0000001", "\"0.5\"", "1e400", "-1e400", "NaN", "Infinity", "-Infinity",
						"null", "[]", "1e-400", "0.0000000000000000000000001", "true"),
				Arbitraries.integers().between(20, 300).map(n -> "1." + "1".repeat(n)));
	}

	static Arbitrary<String> hostileBooleans() {
		return Arbitraries.of("\"yes\"", "1", "0", "null", "\"true\"", "[]", "True", "tru");
	}

	static Arbitrary<String> hostileMetadata() {
		return Arbitraries.oneOf(
				Arbitraries.of("[]", "\"x\"", "{\"k\":1}", "{\"k\":null}", "{\"k\":{}}", "{\"k\":[\"v\"]}",
						"{\"\":\"v\"}", "{\"a\":\"1\",\"a\":\"2\"}", "{\"\\u0000\":\"v\"}", "{\"k\":\"\\u0000\"}",
						"null", "{\"\u043a\u043b\u044e\u0447\":\"\u0437\u043d\u0430\u0447\u0435\u043d\u0438\u0435\"}"),
				Arbitraries.integers()
					.between(17, 200)
					.map(n -> IntStream.range(0, n)
						.mapToObj(i -> "\"k" + i + "\":\"v\"")
						.collect(Collectors.joining(",", "{", "}"))),
				Arbitraries.integers().between(65, 2000).map(n -> "{\"" + "k".repeat(n) + "\":\"v\"}"),
				Arbitraries.integers().between(513, 20000).map(n -> "{\"note\":\"" + "v".repeat(n) + "\"}"));
	}

	static Arbitrary<String> extraMembers() {
		return Arbitraries.of("\"id\":\"" + UNKNOWN_ID + "\"", "\"owner\":\"bob\"", "\"status\":\"completed\"",
				"\"__proto__\":{\"admin\":true}", "\"stream\":true", "\"" + "n".repeat(1100) + "\":1", "\"\":1",
				"\"x\":" + "[".repeat(40) + "]".repeat(40), "\"tools\":[]", "\"background\":true",
				"\"padding\":\"" + "x".repeat(MAX_BODY_BYTES) + "\"", "\"\\u0000\":0");
	}

	/** A JSON string literal of any text: quotes, backslashes and control characters escaped. */
	static String jsonString(String text) {
		StringBuilder json = new StringBuilder("\"");
		for (int i = 0; i < text.length(); i++) {
			char c = text.charAt(i);
			if (c == '"' || c == '\\') {
				json.append('\\').append(c);
			}
			else if (c < 0x20 || Character.isSurrogate(c)) {
				json.append(String.format("\\u%04x", (int) c));
			}
			else {
				json.append(c);
			}
		}
		return json.append('"').toString();
	}

}
