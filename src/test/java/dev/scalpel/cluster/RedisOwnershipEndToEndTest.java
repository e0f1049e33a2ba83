package dev.scalpel.cluster;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import reactor.core.Disposable;
import reactor.core.publisher.Mono;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.core.ParameterizedTypeReference;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.http.MediaType;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.web.reactive.function.client.WebClient;

import dev.scalpel.ScalpelApplication;
import dev.scalpel.slot.SlotPool;
import dev.scalpel.support.Await;
import dev.scalpel.support.ControlledUpstream;
import dev.scalpel.support.TestRedis;
import dev.scalpel.support.FakeControlledTokenSource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Ownership in redis mode: the owner travels with the stream. Two instances with the same keys share
 * a real Redis; a stream alice starts on A is alice's on B too: bob gets {@code 404} there for every
 * call, as for an unknown id, and does not see it listed; an administrator on B lists it, sees it and
 * cancels it (A frees the slot) but cannot read its events; a browser attaches on B with the attach
 * token A issued.
 */
class RedisOwnershipEndToEndTest {

	private static final Duration WAIT = Duration.ofSeconds(10);

	private static final JsonMapper JSON = JsonMapper.shared();

	private static final ParameterizedTypeReference<ServerSentEvent<String>> SSE = new ParameterizedTypeReference<>() {
	};

	private static final String UNKNOWN = "str_0123456789abcdef0123456789abcdef";

	private static TestRedis redis;

	private static Instance a;

	private static Instance b;

	@BeforeAll
	static void start() {
		redis = TestRedis.start();
		a = Instance.start("a", redis);
		b = Instance.start("b", redis);
	}

	@AfterAll
	static void stop() {
		for (Instance instance : new Instance[] { a, b }) {
			if (instance != null) {
				instance.context().close();
			}
		}
		if (redis != null) {
			redis.close();
		}
	}

	@Test
	void aStreamStartedOnAIsItsOwnersOnBAndNotFoundForAnotherKey() {
		String id = a.start("sk-alice").path("id").asString();
		FakeControlledTokenSource.Call call = a.upstream().nextCall(WAIT);
		String bobs = a.start("sk-bob").path("id").asString();
		a.upstream().nextCall(WAIT);

		for (String path : List.of("/v1/streams/%s", "/v1/streams/%s/events")) {
			Reply denied = b.call(HttpMethod.GET, path.formatted(id), "sk-bob");
			Reply unknown = b.call(HttpMethod.GET, path.formatted(UNKNOWN), "sk-bob");
			assertThat(denied.status()).as(path).isEqualTo(404);
			assertThat(denied.body().replace(id, "ID")).isEqualTo(unknown.body().replace(UNKNOWN, "ID"));
		}
		assertThat(b.call(HttpMethod.POST, "/v1/streams/" + id + "/cancel", "sk-bob").status()).isEqualTo(404);
		assertThat(b.call(HttpMethod.POST, "/v1/streams/" + id + "/attach_token", "sk-bob").status()).isEqualTo(404);
		assertThat(b.ids("sk-bob", "")).contains(bobs).doesNotContain(id);
		assertThat(b.call(HttpMethod.GET, "/v1/streams?after=" + id, "sk-bob").status()).isEqualTo(400);

		// Bob changed nothing; for alice, on B, it is there and running.
		assertThat(call.cancelled()).isFalse();
		assertThat(b.json(HttpMethod.GET, "/v1/streams/" + id, "sk-alice").path("status").asString())
			.isEqualTo("in_progress");
		assertThat(b.ids("sk-alice", "")).contains(id).doesNotContain(bobs);
		assertThat(b.ids("sk-alice", "after=" + id)).doesNotContain(id);
		call.token("mine").finish("stop");
		Await.atMost(WAIT)
			.until(() -> "completed".equals(b.json(HttpMethod.GET, "/v1/streams/" + id, "sk-alice").path("status").asString()));
	}

	@Test
	void anAdministratorOnBListsSeesAndCancelsAStreamOfAButReadsNoEvents() {
		String id = a.start("sk-alice").path("id").asString();
		FakeControlledTokenSource.Call call = a.upstream().nextCall(WAIT);
		Await.atMost(WAIT).until(() -> a.slots().inUse() == 1);

		assertThat(b.ids("sk-ops", "limit=100")).contains(id);
		assertThat(b.json(HttpMethod.GET, "/v1/streams/" + id, "sk-ops").path("status").asString()).isEqualTo("in_progress");
		assertThat(b.call(HttpMethod.GET, "/v1/streams/" + id + "/events", "sk-ops").status()).isEqualTo(404);

		JsonNode cancelled = b.json(HttpMethod.POST, "/v1/streams/" + id + "/cancel", "sk-ops");
		assertThat(cancelled.path("status").asString()).isEqualTo("cancelled");
		Await.atMost(WAIT).until(() -> a.slots().inUse() == 0 && call.cancelled());
		assertThat(a.json(HttpMethod.GET, "/v1/streams/" + id, "sk-alice").path("finish_reason").asString())
			.isEqualTo("cancel_requested");
	}

	@Test
	void aBrowserAttachesOnBWithTheTokenAIssued() {
		JsonNode started = a.start("sk-alice");
		String id = started.path("id").asString();
		String token = started.path("attach_token").asString();
		FakeControlledTokenSource.Call call = a.upstream().nextCall(WAIT);
		call.token("before");

		List<ServerSentEvent<String>> events = new CopyOnWriteArrayList<>();
		Disposable browser = b.http()
			.get()
			.uri("/v1/streams/{id}/events?token={token}", id, token)
			.accept(MediaType.TEXT_EVENT_STREAM)
			.retrieve()
			.bodyToFlux(SSE)
			.filter(event -> event.event() != null)
			.subscribe(events::add);
		try {
			Await.atMost(WAIT).until(() -> events.stream().anyMatch(event -> "token".equals(event.event())));
			call.token("after").finish("stop");
			Await.atMost(WAIT).until(() -> !events.isEmpty() && "stream.completed".equals(events.get(events.size() - 1).event()));
			assertThat(events).extracting(ServerSentEvent::event)
				.containsExactly("stream.created", "stream.started", "token", "token", "stream.completed");
			// The token names its stream: on B as on A, it opens no other.
			String other = a.start("sk-alice").path("id").asString();
			a.upstream().nextCall(WAIT).finish("stop");
			assertThat(b.call(HttpMethod.GET, "/v1/streams/" + other + "/events?token=" + token, null).status())
				.isEqualTo(401);
		}
		finally {
			browser.dispose();
		}
	}

	record Reply(int status, String body) {
	}

	record Instance(ConfigurableApplicationContext context, WebClient http) {

		static Instance start(String name, TestRedis redis) {
			ConfigurableApplicationContext context = new SpringApplicationBuilder(ScalpelApplication.class,
					ControlledUpstream.class)
				.profiles("test")
				.run("--server.port=0", "--management.server.port=0", "--scalpel.cluster.mode=redis",
						"--spring.data.redis.url=" + redis.url(), "--scalpel.cluster.replica-id=" + name,
						"--scalpel.cluster.lease-time=1500ms", "--scalpel.slots.max=4",
						"--scalpel.security.keys[0].name=alice",
						"--scalpel.security.keys[0].sha256=099295a3784e1bd368dc348843a7398c1931b6b8ec2504c73e91ed2040bdc46c",
						"--scalpel.security.keys[1].name=bob",
						"--scalpel.security.keys[1].sha256=36c76b48bb2ee1d9d37140550e9d7ed7d395cf56f41050dc2a72e5291c0011f0",
						"--scalpel.security.keys[2].name=ops", "--scalpel.security.keys[2].role=admin",
						"--scalpel.security.keys[2].sha256=c391959605db2757d87bf45d5f4c9bda42b68e95dcd157bf4f2473516c2bc9bb",
						"--scalpel.security.attach-token.secret=one-secret-shared-by-every-replica-here");
			int port = ((WebServerApplicationContext) context).getWebServer().getPort();
			return new Instance(context, WebClient.create("http://localhost:" + port));
		}

		FakeControlledTokenSource upstream() {
			return this.context.getBean(FakeControlledTokenSource.class);
		}

		SlotPool slots() {
			return this.context.getBean(SlotPool.class);
		}

		/** Starts a background stream on the controlled model with a key: the 202 body. */
		JsonNode start(String key) {
			return JSON.readTree(this.http.post()
				.uri("/v1/streams")
				.header(HttpHeaders.AUTHORIZATION, "Bearer " + key)
				.contentType(MediaType.APPLICATION_JSON)
				.bodyValue("{\"model\":\"controlled\",\"prompt\":\"hi\",\"background\":true}")
				.retrieve()
				.bodyToMono(String.class)
				.block(WAIT));
		}

		Reply call(HttpMethod method, String path, @Nullable String key) {
			return this.http.method(method)
				.uri(path)
				.headers(headers -> {
					if (key != null) {
						headers.setBearerAuth(key);
					}
				})
				.exchangeToMono(response -> response.bodyToMono(String.class)
					.defaultIfEmpty("")
					.map(body -> new Reply(response.statusCode().value(), body)))
				.switchIfEmpty(Mono.error(new AssertionError("no response")))
				.block(WAIT);
		}

		JsonNode json(HttpMethod method, String path, String key) {
			Reply reply = call(method, path, key);
			assertThat(reply.status()).as(reply.body()).isEqualTo(200);
			return JSON.readTree(reply.body());
		}

		List<String> ids(String key, String query) {
			List<String> ids = new ArrayList<>();
			json(HttpMethod.GET, "/v1/streams?" + query, key).path("data").forEach(stream -> ids.add(stream.path("id").asString()));
			return ids;
		}

	}

}
