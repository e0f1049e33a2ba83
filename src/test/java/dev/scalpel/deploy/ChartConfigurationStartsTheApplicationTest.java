package dev.scalpel.deploy;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;

import dev.scalpel.ScalpelApplication;
import dev.scalpel.cluster.ClusterProperties;
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

}
