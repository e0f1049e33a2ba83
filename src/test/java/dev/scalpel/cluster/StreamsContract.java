package dev.scalpel.cluster;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.Test;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import tools.jackson.databind.JsonNode;
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
import dev.scalpel.support.Await;
import dev.scalpel.support.ControlledUpstream;
import dev.scalpel.support.FakeControlledTokenSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.groups.Tuple.tuple;

/**
 * The streams contract, the same for both modes (as reactor-pool's {@code CommonPoolTest} runs over
 * every pool): start, attach and resume, cancel, status, list and paging. A stream starts on its
 * {@link #owner()} and is read, followed and cancelled through the {@link #reader()}: the same
 * instance in memory mode, another replica on the same Redis in redis mode. The answers must not
 * tell the two apart.
 */
abstract class StreamsContract {

	static final Duration WAIT = Duration.ofSeconds(10);

	private static final JsonMapper JSON = JsonMapper.shared();

	private static final ParameterizedTypeReference<ServerSentEvent<String>> SSE = new ParameterizedTypeReference<>() {
	};

	/** Where streams start. */
	abstract Instance owner();

	/** Where they are read and cancelled. */
	abstract Instance reader();

	@Test
	void aBackgroundStreamReadsTheSameFromTheReaderAsFromItsOwner() {
		String id = owner().startBackground();
		Await.atMost(WAIT).until(() -> "completed".equals(reader().status(id).path("status").asString()));
		JsonNode onOwner = owner().status(id);
		JsonNode onReader = reader().status(id);
		assertThat(onReader).isEqualTo(onOwner);
		assertThat(onReader.path("finish_reason").asString()).isEqualTo(onOwner.path("finish_reason").asString());
		assertThat(onReader.path("last_event_id").asLong()).isPositive();
	}

	@Test
	void attachingThroughTheReaderReplaysThenFollowsAndResumesAfterAnEventId() {
		Listening onOwner = owner().startListening();
		FakeControlledTokenSource.Call call = owner().upstream().nextCall(WAIT);
		call.token("one").token("two");
		String id = onOwner.awaitId();
		Await.atMost(WAIT).until(() -> onOwner.count("token") == 2);

		Listening followed = reader().attach(id, 0);
		Await.atMost(WAIT).until(() -> followed.count("token") == 2);
		assertThat(reader().status(id).path("status").asString()).isEqualTo("in_progress");
		call.token("three").finish("stop");
		Await.atMost(WAIT).until(() -> onOwner.ended() && followed.ended());
		assertThat(followed.events()).extracting(ServerSentEvent::id, ServerSentEvent::event, ServerSentEvent::data)
			.isEqualTo(onOwner.events().stream().map(e -> tuple(e.id(), e.event(), e.data())).toList());
		assertThat(followed.last().event()).isEqualTo("stream.completed");

		Listening resumed = reader().attach(id, 3);
		Await.atMost(WAIT).until(resumed::ended);
		assertThat(resumed.events()).extracting(ServerSentEvent::id)
			.isEqualTo(onOwner.events().stream().map(ServerSentEvent::id).filter(e -> Long.parseLong(e) > 3).toList());
		assertThat(reader().status(id).path("usage").path("output_tokens").asInt()).isEqualTo(3);
		long last = reader().status(id).path("last_event_id").asLong();
		assertThat(reader().eventsStatus(id, last + 1)).as("after beyond the newest event").isEqualTo(400);
	}

	@Test
	void aCancelThroughTheReaderEndsTheStreamEverywhereAndFreesTheOwnersSlot() {
		Listening onOwner = owner().startListening();
		FakeControlledTokenSource.Call call = owner().upstream().nextCall(WAIT);
		call.token("one");
		String id = onOwner.awaitId();
		Await.atMost(WAIT).until(() -> onOwner.count("token") == 1);

		JsonNode cancelled = reader().cancel(id);
		assertThat(cancelled.path("status").asString()).isEqualTo("cancelled");
		assertThat(cancelled.path("finish_reason").asString()).isEqualTo("cancel_requested");
		Await.atMost(WAIT).until(() -> owner().slots().inUse() == 0 && call.cancelled());
		Await.atMost(WAIT).until(onOwner::ended);
		assertThat(onOwner.last().event()).isEqualTo("stream.cancelled");
		assertThat(reader().cancel(id).path("status").asString()).as("idempotent").isEqualTo("cancelled");
		assertThat(owner().status(id).path("status").asString()).isEqualTo("cancelled");

		Listening afterwards = reader().attach(id, 0);
		Await.atMost(WAIT).until(afterwards::ended);
		assertThat(afterwards.last().event()).as("cancelled, never not found").isEqualTo("stream.cancelled");
	}

	@Test
	void aCompletedStreamStaysCompletedWhenCancelled() {
		String id = owner().startBackground();
		Await.atMost(WAIT).until(() -> "completed".equals(reader().status(id).path("status").asString()));
		assertThat(reader().cancel(id).path("status").asString()).isEqualTo("completed");
		assertThat(owner().status(id).path("status").asString()).isEqualTo("completed");
	}

	@Test
	void theListIsNewestFirstAndPagesWithACursor() {
		List<String> started = new ArrayList<>();
		for (int i = 0; i < 5; i++) {
			// Each in a millisecond of its own: newest first is by creation time.
			long now = System.currentTimeMillis();
			Await.atMost(WAIT).until(() -> System.currentTimeMillis() > now);
			started.add(0, owner().startBackground());
		}
		Await.atMost(WAIT).until(() -> started.stream()
			.allMatch(id -> "completed".equals(reader().status(id).path("status").asString())));

		List<String> paged = new ArrayList<>();
		String after = null;
		boolean more = true;
		for (int page = 0; more && page < 100; page++) {
			JsonNode answer = reader().list("limit=2" + ((after != null) ? "&after=" + after : ""));
			assertThat(answer.path("object").asString()).isEqualTo("list");
			List<String> ids = ids(answer);
			more = answer.path("has_more").asBoolean();
			assertThat(ids).hasSize(more ? 2 : ids.size()).hasSizeLessThanOrEqualTo(2);
			assertThat(ids).allSatisfy(id -> assertThat(paged).doesNotContain(id));
			paged.addAll(ids);
			after = ids.isEmpty() ? after : ids.get(ids.size() - 1);
		}
		assertThat(more).as("the last page says there is no more").isFalse();
		assertThat(paged).hasSize(reader().list("limit=100").path("data").size());
		assertThat(paged.subList(0, 5)).isEqualTo(started);
		assertThat(ids(reader().list("status=completed&limit=5"))).isEqualTo(started);
		assertThat(ids(reader().list("status=in_progress&limit=100"))).doesNotContainAnyElementsOf(started);
		assertThat(reader().listStatus("after=str_00000000000000000000000000000000")).isEqualTo(400);
	}

	@Test
	void anUnknownStreamIsNotFoundEverywhere() {
		String unknown = "str_00000000000000000000000000000000";
		assertThat(reader().statusCode("/v1/streams/" + unknown)).isEqualTo(404);
		assertThat(reader().eventsStatus(unknown, 0)).isEqualTo(404);
		assertThat(reader().http()
			.post()
			.uri("/v1/streams/{id}/cancel", unknown)
			.exchangeToMono(response -> response.releaseBody().thenReturn(response.statusCode().value()))
			.block(WAIT)).isEqualTo(404);
	}

	private static List<String> ids(JsonNode page) {
		List<String> ids = new ArrayList<>();
		page.path("data").forEach(view -> ids.add(view.path("id").asString()));
		return ids;
	}

	/** One Scalpel instance with the test-driven model {@code controlled}, on a free port. */
	record Instance(ConfigurableApplicationContext context, WebClient http) {

		static Instance start(String... settings) {
			List<String> args = new ArrayList<>(List.of("--server.port=0", "--management.server.port=0",
					"--scalpel.slots.max=4"));
			args.addAll(List.of(settings));
			ConfigurableApplicationContext context = new SpringApplicationBuilder(ScalpelApplication.class,
					ControlledUpstream.class)
				.profiles("test")
				.run(args.toArray(String[]::new));
			int port = ((WebServerApplicationContext) context).getWebServer().getPort();
			return new Instance(context, WebClient.create("http://localhost:" + port));
		}

		void close() {
			this.context.close();
		}

		FakeControlledTokenSource upstream() {
			return this.context.getBean(FakeControlledTokenSource.class);
		}

		SlotPool slots() {
			return this.context.getBean(SlotPool.class);
		}

		Listening startListening() {
			Listening listening = new Listening();
			listening.subscribe(this.http.post()
				.uri("/v1/streams")
				.accept(MediaType.TEXT_EVENT_STREAM)
				.contentType(MediaType.APPLICATION_JSON)
				.bodyValue("{\"model\":\"controlled\",\"prompt\":\"hi\"}")
				.retrieve()
				.bodyToFlux(SSE));
			return listening;
		}

		Listening attach(String id, long after) {
			Listening listening = new Listening();
			listening.subscribe(this.http.get()
				.uri("/v1/streams/{id}/events?after={after}", id, after)
				.accept(MediaType.TEXT_EVENT_STREAM)
				.retrieve()
				.bodyToFlux(SSE));
			return listening;
		}

		String startBackground() {
			return JSON.readTree(this.http.post()
				.uri("/v1/streams")
				.contentType(MediaType.APPLICATION_JSON)
				.bodyValue("{\"model\":\"simulated\",\"prompt\":\"listed\",\"background\":true,\"max_tokens\":3}")
				.retrieve()
				.bodyToMono(String.class)
				.block(WAIT)).path("id").asString();
		}

		JsonNode list(String query) {
			return JSON.readTree(this.http.get().uri("/v1/streams?" + query).retrieve().bodyToMono(String.class).block(WAIT));
		}

		int listStatus(String query) {
			return statusCode("/v1/streams?" + query);
		}

		JsonNode status(String id) {
			return JSON.readTree(this.http.get().uri("/v1/streams/{id}", id).retrieve().bodyToMono(String.class).block(WAIT));
		}

		int eventsStatus(String id, long after) {
			return this.http.get()
				.uri("/v1/streams/{id}/events?after={after}", id, after)
				.accept(MediaType.TEXT_EVENT_STREAM)
				.exchangeToMono(response -> response.releaseBody().thenReturn(response.statusCode().value()))
				.block(WAIT);
		}

		int statusCode(String path) {
			return this.http.get()
				.uri(path)
				.exchangeToMono(response -> response.releaseBody().thenReturn(response.statusCode().value()))
				.block(WAIT);
		}

		JsonNode cancel(String id) {
			return JSON.readTree(
					this.http.post().uri("/v1/streams/{id}/cancel", id).retrieve().bodyToMono(String.class).block(WAIT));
		}

	}

	/** The events a listener received. */
	static final class Listening {

		private final List<ServerSentEvent<String>> events = new CopyOnWriteArrayList<>();

		private volatile boolean ended;

		private Disposable subscription;

		void subscribe(Flux<ServerSentEvent<String>> events) {
			this.subscription = events.filter(event -> event.event() != null)
				.subscribe(this.events::add, error -> this.ended = true, () -> this.ended = true);
		}

		String awaitId() {
			Await.atMost(WAIT).until(() -> !this.events.isEmpty());
			return JSON.readTree(this.events.get(0).data()).path("id").asString();
		}

		long count(String type) {
			return this.events.stream().filter(event -> type.equals(event.event())).count();
		}

		boolean ended() {
			return this.ended;
		}

		List<ServerSentEvent<String>> events() {
			return new ArrayList<>(this.events);
		}

		ServerSentEvent<String> last() {
			return this.events.get(this.events.size() - 1);
		}

	}

}
