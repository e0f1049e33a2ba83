package dev.scalpel.security;

import java.time.Duration;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import tools.jackson.databind.JsonNode;

import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.web.reactive.function.client.WebClient;

import dev.scalpel.support.Logs;
import dev.scalpel.ScalpelApplication;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * With no keys configured (the local default) the API is open and says so in a warning at startup;
 * with keys, it says how many and never what they are. A key sent to an open service changes nothing.
 */
@ExtendWith(OutputCaptureExtension.class)
class OpenServiceTest {

	private static final Duration WAIT = Duration.ofSeconds(10);

	@Test
	void withoutKeysTheServiceRunsOpenAndWarnsAboutIt(CapturedOutput output) {
		try (ConfigurableApplicationContext context = start()) {
			WebClient http = WebClient.create("http://localhost:" + port(context));
			String id = http.post()
				.uri("/v1/streams")
				.header("Content-Type", "application/json")
				.bodyValue("{\"prompt\":\"Hi\",\"max_tokens\":2,\"background\":true}")
				.retrieve()
				.bodyToMono(JsonNode.class)
				.block(WAIT)
				.get("id")
				.asString();
			Integer withSomeKey = http.get()
				.uri("/v1/streams/" + id)
				.header("Authorization", "Bearer anything")
				.exchangeToMono(response -> response.releaseBody().thenReturn(response.statusCode().value()))
				.block(WAIT);
			assertThat(withSomeKey).isEqualTo(200);
		}
		assertThat(Logs.written(output)).contains("WARN").contains("No API keys configured (scalpel.security.keys)");
	}

	@Test
	void withKeysTheLogSaysHowManyAndNeverWhichHash(CapturedOutput output) {
		String hash = ApiKeysTest.hash("sk-alice");
		try (ConfigurableApplicationContext context = start("--scalpel.security.keys[0].name=alice",
				"--scalpel.security.keys[0].sha256=" + hash)) {
			Integer refused = WebClient.create("http://localhost:" + port(context))
				.get()
				.uri("/v1/streams")
				.header("Authorization", "Bearer sk-alice-wrong")
				.exchangeToMono(response -> response.releaseBody().thenReturn(response.statusCode().value()))
				.block(WAIT);
			assertThat(refused).isEqualTo(401);
		}
		String log = Logs.written(output);
		assertThat(log).contains("1 API key(s) configured")
			.doesNotContain("No API keys configured")
			.doesNotContain(hash)
			.doesNotContain("sk-alice");
		// A configured service starts without a warning (SpringDoc's "enabled by default" ones included).
		assertThat(log.lines().filter(line -> line.contains(" WARN ") && !line.contains(Logs.MARKER)))
			.as("warnings logged by a service started with keys").isEmpty();
	}

	private static ConfigurableApplicationContext start(String... args) {
		String[] all = new String[args.length + 2];
		all[0] = "--server.port=0";
		all[1] = "--management.server.port=0";
		System.arraycopy(args, 0, all, 2, args.length);
		return new SpringApplicationBuilder(ScalpelApplication.class).profiles("test").run(all);
	}

	private static int port(ConfigurableApplicationContext context) {
		return ((WebServerApplicationContext) context).getWebServer().getPort();
	}

}
