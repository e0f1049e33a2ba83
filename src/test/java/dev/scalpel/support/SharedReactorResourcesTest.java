package dev.scalpel.support;

import java.time.Duration;

import org.junit.jupiter.api.Test;

import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.web.reactive.function.client.WebClient;

import dev.scalpel.ScalpelApplication;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A context that closes in the test JVM leaves the others serving: without
 * {@link SharedReactorResources}, the second context's close disposed Reactor Netty's global loops
 * and the first context's port refused connections from then on.
 */
class SharedReactorResourcesTest {

	private static final Duration WAIT = Duration.ofSeconds(10);

	@Test
	void closingOneContextLeavesAnotherServing() {
		try (ConfigurableApplicationContext staying = start()) {
			int port = ((WebServerApplicationContext) staying).getWebServer().getPort();
			assertThat(status(port)).isEqualTo(200);
			start().close();
			assertThat(status(port)).isEqualTo(200);
			assertThat(status(port)).isEqualTo(200);
		}
	}

	private static int status(int port) {
		return WebClient.create("http://localhost:" + port)
			.get()
			.uri("/v1/models")
			.exchangeToMono(response -> response.releaseBody().thenReturn(response.statusCode().value()))
			.block(WAIT);
	}

	private static ConfigurableApplicationContext start() {
		return new SpringApplicationBuilder(ScalpelApplication.class).profiles("test")
			.run("--server.port=0", "--management.server.port=0");
	}

}
