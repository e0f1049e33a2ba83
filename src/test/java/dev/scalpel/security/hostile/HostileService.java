package dev.scalpel.security.hostile;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Base64;
import java.util.EnumMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

import org.jspecify.annotations.Nullable;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;

import dev.scalpel.ScalpelApplication;
import dev.scalpel.security.hostile.HostileRequest.TokenRef;
import dev.scalpel.security.hostile.HostileRequest.Victim;
import dev.scalpel.stream.StreamManager;
import dev.scalpel.stream.StreamView;
import dev.scalpel.support.ControlledUpstream;
import dev.scalpel.support.FakeControlledTokenSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/** The running application, its victims as they were before the attack, and attach tokens. */
public record HostileService(ConfigurableApplicationContext context, StreamManager manager, int port, int management,
			HttpClient http, Map<Victim, String> ids, Map<Victim, String> snapshots, Map<Victim, StreamView> views,
			String completedEvents,
			Map<Victim, FakeControlledTokenSource.Call> calls, Map<String, String> tokens) {

	static final String ALICE = "alice";

	static final String BOB = "bob";

	static final String OPS = "ops";

	static final String ALLOWED_ORIGIN = "https://app.example.com";

	/** {@code scalpel.limits.max-body-size}, small so that the size cases stay cheap. */
	static final int MAX_BODY_BYTES = 32 * 1024;

	/** The bound on every exchange; the service answers every request here in milliseconds. */
	public static final Duration TIMEOUT = Duration.ofSeconds(10);

	/** Well-formed, but names no stream. */
	static final String UNKNOWN_ID = "str_0123456789abcdef0123456789abcdef";

	static final JsonMapper JSON = JsonMapper.shared();

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

	/** Stops the application. */
	public void close() {
		this.context.close();
	}

	/**
	 * Starts the application as {@code @ScalpelTest} would (the {@code test} profile, random ports, the
	 * {@code controlled} model besides {@code simulated}), with API keys, and its victims.
	 */
	public static HostileService startTheServiceAndItsVictims() throws Exception {
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
			FakeControlledTokenSource upstream = context.getBean(FakeControlledTokenSource.class);
			StreamManager manager = context.getBean(StreamManager.class);
			HostileService starting = new HostileService(context, manager, port, management, http, new EnumMap<>(Victim.class),
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
			return new HostileService(context, manager, port, management, http, Map.copyOf(ids),
					Map.copyOf(starting.snapshots()), Map.copyOf(starting.views()), completedEvents,
					Map.copyOf(starting.calls()), tokens);
		}
		catch (Throwable ex) {
			context.close();
			throw ex;
		}
	}

	// ---------------------------------------------------------------------------------------------
	// Setting the victims up

	private static String start(HostileService service, String owner, String json) {
		HttpResponse<String> started = service.post("/v1/streams", key(owner), json);
		assertThat(started.statusCode()).as("start %s: %s", json, started.body()).isEqualTo(202);
		return JSON.readTree(started.body()).path("id").asString();
	}

	private static void awaitStatus(HostileService service, Victim victim, String status) throws InterruptedException {
		long deadline = System.nanoTime() + TIMEOUT.toNanos();
		while (!status.equals(statusObject(service, victim).path("status").asString())) {
			if (System.nanoTime() > deadline) {
				fail("%s is not %s: %s", victim, status, statusObject(service, victim));
			}
			Thread.sleep(10);
		}
	}

	private static JsonNode statusObject(HostileService service, Victim victim) {
		return JSON.readTree(service.get("/v1/streams/" + service.ids().get(victim), victim.key()).body());
	}

	/** A victim's status object once it no longer changes (its tokens are in). */
	private static String settled(HostileService service, Victim victim) throws InterruptedException {
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
	static String events(HostileService service, Victim victim) throws IOException {
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
	private static Map<String, String> tokens(HostileService service) {
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

	private static String attachToken(HostileService service, Victim victim) {
		HttpResponse<String> issued = service.post("/v1/streams/" + service.ids().get(victim) + "/attach_token",
				victim.key(), "");
		assertThat(issued.statusCode()).as("attach token: %s", issued.body()).isEqualTo(200);
		return JSON.readTree(issued.body()).path("token").asString();
	}

	public static String key(String name) {
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

}
