package dev.scalpel.deploy;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;

import dev.scalpel.ScalpelApplication;
import dev.scalpel.cluster.ClusterProperties;
import dev.scalpel.security.SecurityProperties;
import dev.scalpel.slot.SlotProperties;
import dev.scalpel.stream.SharedStreams;
import dev.scalpel.stream.StreamProperties;
import dev.scalpel.support.TestRedis;
import dev.scalpel.upstream.ProviderProperties;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The application starts on the {@code application.yaml} the chart renders into its ConfigMap, loaded
 * the way the Deployment loads it ({@code spring.config.additional-location}), with the properties'
 * validation and the provider wiring: a value the chart renders that the application would refuse
 * fails here, not in a cluster.
 */
class ChartConfigurationStartsTheApplicationTest {

	private static final HttpClient HTTP = HttpClient.newHttpClient();

	@ParameterizedTest(name = "{0}")
	@ValueSource(strings = { "default", "providers-values.yaml", "existing-secret-values.yaml" })
	void startsOnTheRenderedConfiguration(String valuesFile, @TempDir Path config) throws Exception {
		HelmChartTest.Rendered rendered = HelmChartTest.render(valuesFile);
		Files.writeString(config.resolve("application.yaml"), rendered.configMapYaml());
		try (ConfigurableApplicationContext context = new SpringApplicationBuilder(ScalpelApplication.class).run(
				"--spring.config.additional-location=file:" + config + "/",
				// Free ports for the test instead of 8080/8081, and the drain short for its close.
				"--server.port=0", "--management.server.port=0", "--scalpel.streams.drain-timeout=100ms")) {
			ProviderProperties providers = context.getBean(ProviderProperties.class);
			switch (valuesFile) {
				case "providers-values.yaml" -> {
					assertThat(providers.endpoints()).extracting(ProviderProperties.Endpoint::name)
						.containsExactly("openai", "anthropic");
					assertThat(context.getBean(SlotProperties.class).max()).isEqualTo(200);
				}
				case "existing-secret-values.yaml" -> assertThat(providers.endpoints()).singleElement()
					.satisfies(endpoint -> assertThat(endpoint.baseUrl()).hasToString("http://vllm.models.svc:8000/v1"));
				default -> {
					assertThat(providers.endpoints()).isEmpty();
					assertThat(context.getBean(StreamProperties.class).heartbeatInterval()).hasSeconds(15);
				}
			}
		}
	}

	@Test
	void startsInRedisModeOnTheRenderedConfiguration(@TempDir Path config) throws Exception {
		HelmChartTest.Rendered rendered = HelmChartTest.render("redis-values.yaml");
		Files.writeString(config.resolve("application.yaml"), rendered.configMapYaml());
		try (TestRedis redis = TestRedis.start();
				ConfigurableApplicationContext context = new SpringApplicationBuilder(ScalpelApplication.class).run(
						"--spring.config.additional-location=file:" + config + "/",
						// The chart's Redis is a cluster service; here the test's, and no password.
						"--spring.data.redis.url=" + redis.url(), "--server.port=0", "--management.server.port=0",
						"--scalpel.streams.drain-timeout=100ms")) {
			assertThat(context.getBean(ClusterProperties.class).mode()).isEqualTo(ClusterProperties.Mode.REDIS);
			assertThat(context.getBean(SharedStreams.class).available()).isTrue();
		}
	}

	/**
	 * With ci/security-values.yaml: the ConfigMap's application.yaml imports the security Secret's
	 * security.yaml (here from a temporary directory instead of /etc/scalpel/security/), and the API
	 * then wants one of its keys; the {@code helm test} script passes with the key the test pod gets.
	 */
	@Test
	void startsWithTheApiKeysOfTheRenderedSecurityYaml(@TempDir Path config, @TempDir Path security,
			@TempDir Path chart) throws Exception {
		HelmChartTest.Rendered rendered = HelmChartTest.render("security-values.yaml");
		String mounted = "optional:file:/etc/scalpel/security/security.yaml";
		assertThat(rendered.configMapYaml()).contains(mounted);
		Files.writeString(config.resolve("application.yaml"),
				rendered.configMapYaml().replace(mounted, "optional:file:" + security.resolve("security.yaml")));
		Files.writeString(security.resolve("security.yaml"), rendered.securityYaml());
		try (ConfigurableApplicationContext context = new SpringApplicationBuilder(ScalpelApplication.class).run(
				"--spring.config.additional-location=file:" + config + "/", "--server.port=0",
				"--management.server.port=0", "--scalpel.streams.drain-timeout=100ms")) {
			SecurityProperties properties = context.getBean(SecurityProperties.class);
			assertThat(properties.keys()).extracting(SecurityProperties.ApiKey::name).containsExactly("web-backend", "ops");
			assertThat(properties.attachToken().secret()).isEqualTo("ci-attach-token-secret-0123456789-abcdefghij");
			assertThat(properties.quota().maxConcurrentStreams()).isEqualTo(8);
			String api = "http://localhost:" + context.getEnvironment().getProperty("local.server.port");

			HttpResponse<String> anonymous = start(api, Map.of());
			assertThat(anonymous.statusCode()).isEqualTo(401);
			assertThat(anonymous.headers().firstValue("WWW-Authenticate")).hasValueSatisfying(
					value -> assertThat(value).startsWith("Bearer"));
			assertThat(anonymous.body()).contains("unauthorized");
			assertThat(start(api, Map.of("Authorization", "Bearer sk-not-configured")).statusCode()).isEqualTo(401);

			HttpResponse<String> started = start(api, Map.of("Authorization", "Bearer sk-test-chart"));
			assertThat(started.statusCode()).as(started.body()).isEqualTo(202);
			assertThat(started.headers().firstValue("X-Attach-Token")).isPresent();
			assertThat(started.body()).contains("\"attach_token\"");
			assertThat(start(api, Map.of("Authorization", "Bearer sk-test-chart-admin")).statusCode()).isEqualTo(202);

			// CORS: the configured origin only.
			assertThat(start(api, Map.of("Authorization", "Bearer sk-test-chart", "Origin", "https://app.example.com"))
				.headers()
				.firstValue("Access-Control-Allow-Origin")).hasValue("https://app.example.com");
			assertThat(start(api, Map.of("Authorization", "Bearer sk-test-chart", "Origin", "https://elsewhere.example"))
				.statusCode()).isEqualTo(403);

			// The helm test script: with the key of tests.apiKey it passes; without, it says what is missing.
			HelmChartTest.Rendered hooks = HelmChartTest.renderTestHooks("security-values.yaml", chart);
			Map<String, Object> pod = hooks.one("Pod", "demo-scalpel-test-stream");
			List<String> command = hooks.strings(hooks.only(hooks.list(hooks.map(pod, "spec"), "containers")), "command");
			Run withKey = run(command, Map.of("SCALPEL", api, "SCALPEL_API_KEY", "sk-test-chart"));
			assertThat(withKey.exit()).as(withKey.output()).isZero();
			assertThat(withKey.output()).containsPattern("ok: str_\\w+ \"status\":\"(cancelled|completed)\"");
			Run withoutKey = run(command, Map.of("SCALPEL", api));
			assertThat(withoutKey.exit()).as(withoutKey.output()).isNotZero();
			assertThat(withoutKey.output()).contains("set tests.apiKey.existingSecret");
		}
	}

	private static HttpResponse<String> start(String api, Map<String, String> headers) throws Exception {
		HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(api + "/v1/streams"))
			.header("Content-Type", "application/json")
			.header("Accept", "application/json")
			.POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"chart\",\"background\":true,\"max_tokens\":4}"));
		headers.forEach(request::header);
		return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
	}

	/** Runs the helm test script. */
	private static Run run(List<String> command, Map<String, String> environment) throws Exception {
		ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
		builder.environment().remove("SCALPEL_API_KEY");
		builder.environment().putAll(environment);
		Process process = builder.start();
		boolean exited = process.waitFor(30, TimeUnit.SECONDS);
		if (!exited) {
			process.destroyForcibly();
		}
		assertThat(exited).as("the script ends within 30 s").isTrue();
		return new Run(process.exitValue(), new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
	}

	private record Run(int exit, String output) {
	}

}
