package dev.scalpel.stream;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import reactor.core.publisher.Flux;

import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.core.ParameterizedTypeReference;
import org.springframework.http.MediaType;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.web.reactive.function.client.WebClient;

import dev.scalpel.ScalpelApplication;
import dev.scalpel.support.Await;
import dev.scalpel.support.ControlledUpstream;
import dev.scalpel.support.FakeControlledTokenSource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Stopping the service: new starts get {@code 503} while it drains, a stream that finishes within the
 * drain time finishes normally, and one that does not ends {@code cancelled/shutdown} with its
 * terminal event delivered before the connection closes.
 */
class GracefulShutdownTest {

	private static final Duration WAIT = Duration.ofSeconds(10);

	private static final ParameterizedTypeReference<ServerSentEvent<String>> SSE = new ParameterizedTypeReference<>() {
	};

	@Test
	void drainsThenCancelsWhatIsLeftWithShutdown() throws Exception {
		ConfigurableApplicationContext context = new SpringApplicationBuilder(ScalpelApplication.class,
				ControlledUpstream.class)
			.profiles("test")
			.run("--server.port=0", "--management.server.port=0", "--scalpel.streams.drain-timeout=1s");
		int port = ((WebServerApplicationContext) context).getWebServer().getPort();
		WebClient http = WebClient.create("http://localhost:" + port);
		FakeControlledTokenSource upstream = context.getBean(FakeControlledTokenSource.class);
		StreamManager manager = context.getBean(StreamManager.class);

		List<ServerSentEvent<String>> lingering = listen(http);
		FakeControlledTokenSource.Call lingeringCall = upstream.nextCall(WAIT);
		lingeringCall.token("a");
		List<ServerSentEvent<String>> finishing = listen(http);
		FakeControlledTokenSource.Call finishingCall = upstream.nextCall(WAIT);

		int management = Integer.parseInt(context.getEnvironment().getProperty("local.management.port"));
		assertThat(readiness(management)).isEqualTo(200);
		CompletableFuture<Void> closed = CompletableFuture.runAsync(context::close);
		Await.atMost(WAIT).until(() -> !manager.accepting());
		// Out of rotation while draining: the probe answers 503, or nothing once the port has closed.
		assertThat(readiness(management)).isNotEqualTo(200);

		int status = http.post()
			.uri("/v1/streams")
			.contentType(MediaType.APPLICATION_JSON)
			.bodyValue("{\"prompt\":\"too late\"}")
			.exchangeToMono(response -> response.bodyToMono(String.class)
				.map(body -> {
					assertThat(body).contains("/shutting_down");
					return response.statusCode().value();
				}))
			.block(WAIT);
		assertThat(status).isEqualTo(503);

		finishingCall.token("b").finish("stop");
		closed.get(WAIT.toSeconds(), TimeUnit.SECONDS);

		Await.atMost(WAIT).until(() -> !finishing.isEmpty() && "stream.completed".equals(last(finishing).event()));
		Await.atMost(WAIT).until(() -> !lingering.isEmpty() && "stream.cancelled".equals(last(lingering).event()));
		assertThat(last(lingering).data()).contains("\"finish_reason\":\"shutdown\"");
		assertThat(lingeringCall.cancelled()).isTrue();
	}

	private static int readiness(int port) {
		try {
			return WebClient.create("http://localhost:" + port)
				.get()
				.uri("/actuator/health/readiness")
				.exchangeToMono(response -> response.releaseBody().thenReturn(response.statusCode().value()))
				.block(WAIT);
		}
		catch (RuntimeException refused) {
			return -1;
		}
	}

	private static List<ServerSentEvent<String>> listen(WebClient http) {
		List<ServerSentEvent<String>> events = new CopyOnWriteArrayList<>();
		Flux<ServerSentEvent<String>> stream = http.post()
			.uri("/v1/streams")
			.accept(MediaType.TEXT_EVENT_STREAM)
			.contentType(MediaType.APPLICATION_JSON)
			.bodyValue("{\"model\":\"controlled\",\"prompt\":\"hi\"}")
			.retrieve()
			.bodyToFlux(SSE);
		stream.filter(event -> event.event() != null).subscribe(events::add, error -> {
		});
		return events;
	}

	private static ServerSentEvent<String> last(List<ServerSentEvent<String>> events) {
		return events.get(events.size() - 1);
	}

}
