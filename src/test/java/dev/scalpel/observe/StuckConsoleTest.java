package dev.scalpel.observe;

import java.io.OutputStream;
import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.core.ParameterizedTypeReference;
import org.springframework.http.MediaType;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.web.reactive.function.client.WebClient;

import dev.scalpel.ScalpelApplication;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Streams run to their end while standard output does not take a single byte, as when a container's
 * log pipe is full: their lifecycle lines are queued, then dropped and counted, and never block the
 * event loop ({@link AsyncLogging}). Written in place (with {@code scalpel.logging.async=false}), the
 * first stream's first lifecycle line stopped its event loop and no stream ended.
 */
class StuckConsoleTest {

	private static final Duration WAIT = Duration.ofSeconds(10);

	@Test
	void streamsRunToTheirEndWhileStandardOutputIsStuck() {
		try (ConfigurableApplicationContext context = new SpringApplicationBuilder(ScalpelApplication.class)
			.profiles("test")
			.run("--server.port=0", "--logging.level.scalpel.streams=info", "--scalpel.logging.queue-size=32")) {
			int port = ((WebServerApplicationContext) context).getWebServer().getPort();
			WebClient http = WebClient.create("http://localhost:" + port);
			assertThat(events(http)).contains("stream.completed");
			long droppedBefore = AsyncLogging.dropped();

			PrintStream out = System.out;
			CountDownLatch release = new CountDownLatch(1);
			System.setOut(new PrintStream(new FakeStuckOutput(release), true));
			try {
				// One lifecycle line a stream at INFO: fifty streams are more than the queue holds.
				for (int i = 0; i < 50; i++) {
					assertThat(events(http)).as("stream %d", i).endsWith("stream.completed");
				}
				assertThat(AsyncLogging.dropped()).isGreaterThan(droppedBefore);
			}
			finally {
				System.setOut(out);
				release.countDown();
			}
		}
	}

	private static List<String> events(WebClient http) {
		return http.post()
			.uri("/v1/streams")
			.contentType(MediaType.APPLICATION_JSON)
			.accept(MediaType.TEXT_EVENT_STREAM)
			.bodyValue("{\"prompt\":\"Hi\",\"max_tokens\":3}")
			.retrieve()
			.bodyToFlux(new ParameterizedTypeReference<ServerSentEvent<String>>() {
			})
			.filter(event -> event.event() != null)
			.map(ServerSentEvent::event)
			.collectList()
			.block(WAIT);
	}

	/** An output that takes no byte until released (bounded, so that a failing test ends). */
	private static final class FakeStuckOutput extends OutputStream {

		private final CountDownLatch release;

		FakeStuckOutput(CountDownLatch release) {
			this.release = release;
		}

		@Override
		public void write(int b) {
			stuck();
		}

		@Override
		public void write(byte[] b, int off, int len) {
			stuck();
		}

		private void stuck() {
			try {
				this.release.await(60, TimeUnit.SECONDS);
			}
			catch (InterruptedException ex) {
				Thread.currentThread().interrupt();
			}
		}

	}

}
