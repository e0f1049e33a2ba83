package dev.scalpel.deploy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import org.springframework.boot.test.web.server.LocalServerPort;

import dev.scalpel.support.ScalpelTest;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The chart's {@code helm test} script, run with {@code sh} and {@code curl} against a real Scalpel:
 * it starts a stream, cancels it, reads its status, and exits 0 only if that status is the terminal
 * one the cancel answered with.
 */
@ScalpelTest(properties = "scalpel.providers.simulated.tokens-per-second=5")
class HelmTestPodEndToEndTest {

	@LocalServerPort
	int port;

	@Test
	void theHelmTestScriptStartsAndCancelsAStream(@TempDir Path chart) throws Exception {
		HelmChartTest.Rendered hooks = HelmChartTest.renderTestHooks("default", chart);
		Map<String, Object> pod = hooks.one("Pod", "demo-scalpel-test-stream");
		Map<String, Object> container = hooks.only(hooks.list(hooks.map(pod, "spec"), "containers"));
		List<String> command = hooks.strings(container, "command");
		assertThat(command.subList(0, 2)).containsExactly("sh", "-ec");

		Run ok = run(command, "http://localhost:" + this.port);
		assertThat(ok.exit()).as(ok.output()).isZero();
		assertThat(ok.output()).contains("\"status\":\"cancelled\"").containsPattern("ok: str_\\w+ \"status\":\"cancelled\"");

		// And it fails when there is no Scalpel to talk to.
		Run failed = run(command, "http://localhost:1");
		assertThat(failed.exit()).as(failed.output()).isNotZero();
	}

	private static Run run(List<String> command, String scalpel) throws IOException, InterruptedException {
		ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
		builder.environment().put("SCALPEL", scalpel);
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
