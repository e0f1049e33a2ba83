package dev.scalpel.observe;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutor;
import org.junit.jupiter.api.Test;
import reactor.netty.http.HttpResources;

import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;

import dev.scalpel.ScalpelApplication;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatExceptionOfType;

/**
 * The management server answers its probes and scrapes while every loop that carries the streams is
 * busy: it runs on a loop of its own ({@link ManagementServerLoop}). With Spring Boot's default (the
 * shared loops) the health probe below waited out the stall.
 */
class ManagementServerLoopTest {

	private static final Duration STALL = Duration.ofSeconds(4);

	private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

	@Test
	void probesAndScrapesAreAnsweredWhileTheStreamLoopsAreStalled() throws Exception {
		try (ConfigurableApplicationContext context = new SpringApplicationBuilder(ScalpelApplication.class)
			.profiles("test")
			.run("--server.port=0", "--management.server.port=0")) {
			int api = ((WebServerApplicationContext) context).getWebServer().getPort();
			int management = Integer.parseInt(context.getEnvironment().getProperty("local.management.port"));
			// Both answer while nothing is stalled (and their code is loaded).
			assertThat(get(api, "/v1/models", Duration.ofSeconds(10)).statusCode()).isEqualTo(200);
			assertThat(get(management, "/actuator/health/liveness", Duration.ofSeconds(10)).statusCode()).isEqualTo(200);

			long stallEnds = System.nanoTime() + STALL.toNanos();
			CountDownLatch stalled = stallEveryLoop(HttpResources.get().onServer(true), stallEnds);
			try {
				assertThat(stalled.await(STALL.toMillis() / 2, TimeUnit.MILLISECONDS)).isTrue();
				// The API waits for its loops: the stall is real.
				assertThatExceptionOfType(HttpTimeoutException.class)
					.isThrownBy(() -> get(api, "/v1/models", Duration.ofMillis(500)));
				// The management server does not.
				for (String path : new String[] { "/actuator/health/liveness", "/actuator/health/readiness",
						"/actuator/prometheus" }) {
					HttpResponse<String> answer = get(management, path, Duration.ofMillis(1000));
					assertThat(answer.statusCode()).as(path).isEqualTo(200);
				}
			}
			finally {
				// The stall ends by itself; wait for it before closing the context.
				Thread.sleep(Math.max(0, TimeUnit.NANOSECONDS.toMillis(stallEnds - System.nanoTime())));
			}
			assertThat(get(api, "/v1/models", Duration.ofSeconds(10)).statusCode()).isEqualTo(200);
		}
	}

	/** Keeps every loop of {@code loops} busy until {@code end}; counts down once all of them are. */
	private static CountDownLatch stallEveryLoop(EventLoopGroup loops, long end) {
		int count = 0;
		for (EventExecutor ignored : loops) {
			count++;
		}
		CountDownLatch stalled = new CountDownLatch(count);
		for (EventExecutor loop : loops) {
			loop.execute(() -> {
				stalled.countDown();
				while (System.nanoTime() < end) {
					// busy, not sleeping: BlockHound refuses blocking calls on event loop threads in tests
				}
			});
		}
		return stalled;
	}

	private HttpResponse<String> get(int port, String path, Duration timeout) throws Exception {
		return this.http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(timeout).build(),
				HttpResponse.BodyHandlers.ofString());
	}

}
