package dev.scalpel.cluster;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.core.ParameterizedTypeReference;
import org.springframework.http.MediaType;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.web.reactive.function.client.WebClient;

import dev.scalpel.ScalpelApplication;
import dev.scalpel.slot.SlotPool;
import dev.scalpel.stream.StreamManager;
import dev.scalpel.support.Await;
import dev.scalpel.support.TestRedis;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The randomised lifecycle race in redis mode, with two instances on one real Redis: streams started
 * on A (listening there or in the background) are followed from B, cancelled on A, on B or on both,
 * lose their listener on A, or run to the end, at random instants, many at once. Afterwards: no slot
 * held and no stream live on either instance, nothing left owned in Redis, A and B report the same
 * terminal status for every stream, and every listener on either instance that stayed saw exactly one
 * terminal event, last, matching that status.
 */
class RedisLifecycleRaceTest {

	private static final int STREAMS = Integer.getInteger("race.streams", 300);

	private static final Duration BOUND = Duration.ofSeconds(60);

	private static final ParameterizedTypeReference<ServerSentEvent<String>> SSE = new ParameterizedTypeReference<>() {
	};

	private static TestRedis redis;

	private static ConfigurableApplicationContext a;

	private static ConfigurableApplicationContext b;

	@BeforeAll
	static void start() {
		redis = TestRedis.start();
		a = replica("a");
		b = replica("b");
	}

	@AfterAll
	static void stop() {
		if (a != null) {
			a.close();
		}
		if (b != null) {
			b.close();
		}
		if (redis != null) {
			redis.close();
		}
	}

	@org.junit.jupiter.api.AfterEach
	void stopActors() {
		this.actors.dispose();
	}

	@ParameterizedTest(name = "seed {0}")
	@ValueSource(longs = { 1, 2 })
	void invariantsHoldAcrossReplicas(long seed) {
		SplittableRandom random = new SplittableRandom(seed);
		WebClient onA = http(a);
		WebClient onB = http(b);
		Map<String, List<Listener>> listeners = new ConcurrentHashMap<>();
		List<String> ids = new CopyOnWriteArrayList<>();
		List<Mono<Void>> plays = new ArrayList<>();
		for (int i = 0; i < STREAMS; i++) {
			SplittableRandom plan = random.split();
			int number = i;
			plays.add(Mono.defer(() -> play(number, plan, onA, onB, ids, listeners))
				.doOnSuccess(ignored -> this.stages.remove(number))
				.subscribeOn(this.actors));
		}
		java.util.concurrent.atomic.AtomicInteger done = new java.util.concurrent.atomic.AtomicInteger();
		long began = System.nanoTime();
		Flux.merge(Flux.fromIterable(plays).map(play -> play.doFinally(signal -> done.incrementAndGet())), 24)
			.then()
			.timeout(BOUND, Mono.error(() -> new AssertionError("plays not done in " + BOUND + ": " + this.stages)))
			.block();
		System.out.printf("seed %d: %d plays in %d ms%n", seed, STREAMS, (System.nanoTime() - began) / 1_000_000);

		Await.atMost(BOUND).until(() -> a.getBean(StreamManager.class).liveCount() == 0);
		Await.atMost(BOUND).until(() -> listeners.values().stream().flatMap(List::stream).allMatch(Listener::settled));
		assertThat(a.getBean(SlotPool.class).inUse()).as("slots held on A").isZero();
		assertThat(b.getBean(SlotPool.class).inUse()).as("slots held on B").isZero();
		assertThat(b.getBean(StreamManager.class).liveCount()).isZero();
		Await.atMost(BOUND).until(() -> owned("a") == 0);

		for (String id : ids) {
			String status = status(onA, id);
			assertThat(status).as(id).isIn("completed", "cancelled", "failed");
			assertThat(status(onB, id)).as("%s on B", id).isEqualTo(status);
			for (Listener listener : listeners.getOrDefault(id, List.of())) {
				if (listener.left) {
					continue;
				}
				List<ServerSentEvent<String>> events = listener.events;
				assertThat(events.stream().filter(event -> event.event().startsWith("stream.")
						&& !event.event().equals("stream.created") && !event.event().equals("stream.started")
						&& !event.event().equals("stream.queued")))
					.as("%s: one terminal event (%s; %s)", id, listener.where, listener.failure)
					.hasSize(1);
				assertThat(events.get(events.size() - 1).event()).as("%s: last (%s)", id, listener.where)
					.isEqualTo("stream." + status);
			}
		}
	}

	/**
	 * Threads for the plays, which block on HTTP calls, and for the two cancels of a double cancel,
	 * which a play waits for (unbounded: a bounded pool full of waiting plays would never run them).
	 */
	private final reactor.core.scheduler.Scheduler actors = Schedulers
		.fromExecutorService(java.util.concurrent.Executors.newCachedThreadPool());

	/** Where each unfinished play is, to tell where one got stuck. */
	private final Map<Integer, String> stages = new ConcurrentHashMap<>();

	private Mono<Void> play(int number, SplittableRandom plan, WebClient onA, WebClient onB, List<String> ids,
			Map<String, List<Listener>> listeners) {
		boolean background = plan.nextInt(4) == 0;
		this.stages.put(number, "starting, background " + background);
		String id;
		List<Listener> mine = new CopyOnWriteArrayList<>();
		Listener local = null;
		if (background) {
			String body = onA.post()
				.uri("/v1/streams")
				.contentType(MediaType.APPLICATION_JSON)
				.bodyValue("{\"prompt\":\"race\",\"background\":true}")
				.retrieve()
				.bodyToMono(String.class)
				.block(BOUND);
			id = JsonMapper.shared().readTree(body).path("id").asString();
		}
		else {
			local = new Listener("A, started there");
			local.follow(onA.post()
				.uri("/v1/streams")
				.accept(MediaType.TEXT_EVENT_STREAM)
				.contentType(MediaType.APPLICATION_JSON)
				.bodyValue("{\"prompt\":\"race\"}")
				.retrieve()
				.bodyToFlux(SSE));
			Listener started = local;
			Await.atMost(BOUND).until(() -> !started.events.isEmpty() || started.settled());
			if (started.events.isEmpty()) {
				throw new AssertionError("no first event: " + started.failure);
			}
			id = JsonMapper.shared().readTree(started.events.get(0).data()).path("id").asString();
			mine.add(local);
		}
		ids.add(id);
		listeners.put(id, mine);
		this.stages.put(number, id + ": started");
		if (plan.nextInt(10) < 7) {
			Listener remote = new Listener("B, attached");
			remote.follow(onB.get().uri("/v1/streams/{id}/events", id).accept(MediaType.TEXT_EVENT_STREAM).retrieve().bodyToFlux(SSE));
			mine.add(remote);
		}
		sleep(plan.nextInt(60));
		int action = plan.nextInt(6);
		this.stages.put(number, id + ": action " + action);
		switch (action) {
			case 0 -> cancel(onA, "A", id);
			case 1 -> cancel(onB, "B", id);
			case 2 -> Flux.merge(Mono.fromRunnable(() -> cancel(onA, "A", id)).subscribeOn(this.actors),
					Mono.fromRunnable(() -> cancel(onB, "B", id)).subscribeOn(this.actors))
				.blockLast(BOUND);
			case 3 -> {
				if (local != null) {
					local.leave();
				}
			}
			default -> {
				// Runs to its end.
			}
		}
		return Mono.empty();
	}

	private static void cancel(WebClient http, String where, String id) {
		String status = JsonMapper.shared()
			.readTree(http.post()
				.uri("/v1/streams/{id}/cancel", id)
				.retrieve()
				.bodyToMono(String.class)
				// The cancel answers within the cancel timeout (2 s) even if the owner does not act.
				.timeout(Duration.ofSeconds(10), Mono.error(() -> new AssertionError("cancel on " + where + " of " + id
						+ " did not answer within 10 s")))
				.block())
			.path("status")
			.asString();
		assertThat(status).as("cancel answers a terminal status").isIn("completed", "cancelled", "failed");
	}

	private static String status(WebClient http, String id) {
		return JsonMapper.shared()
			.readTree(http.get().uri("/v1/streams/{id}", id).retrieve().bodyToMono(String.class).block(BOUND))
			.path("status")
			.asString();
	}

	private static long owned(String replica) {
		try (var client = io.lettuce.core.RedisClient.create(redis.url()); var connection = client.connect()) {
			return connection.sync().scard("scalpel:owned:" + replica);
		}
	}

	private static void sleep(long millis) {
		try {
			Thread.sleep(millis);
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
		}
	}

	private static WebClient http(ConfigurableApplicationContext context) {
		return WebClient.create("http://localhost:" + ((WebServerApplicationContext) context).getWebServer().getPort());
	}

	private static ConfigurableApplicationContext replica(String name) {
		return new SpringApplicationBuilder(ScalpelApplication.class).profiles("test")
			.run("--server.port=0", "--management.server.port=0", "--scalpel.cluster.mode=redis",
					"--spring.data.redis.url=" + redis.url(), "--scalpel.cluster.replica-id=" + name,
					"--scalpel.cluster.lease-time=3s", "--scalpel.slots.max=8", "--scalpel.queue.max=1000",
					"--scalpel.providers.simulated.tokens-per-second=200",
					"--scalpel.providers.simulated.reply-tokens=10",
					"--scalpel.providers.simulated.first-token-delay=5ms");
	}

	/** A listener on one instance. */
	static final class Listener {

		final String where;

		final List<ServerSentEvent<String>> events = new CopyOnWriteArrayList<>();

		volatile boolean left;

		volatile boolean ended;

		volatile Throwable failure;

		private Disposable subscription;

		Listener(String where) {
			this.where = where;
		}

		void follow(Flux<ServerSentEvent<String>> events) {
			this.subscription = events.filter(event -> event.event() != null).subscribe(this.events::add, error -> {
				this.failure = error;
				this.ended = true;
			}, () -> this.ended = true);
		}

		void leave() {
			this.left = true;
			this.subscription.dispose();
		}

		boolean settled() {
			return this.left || this.ended;
		}

	}

}
