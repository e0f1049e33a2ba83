package dev.scalpel.deploy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The GitHub Actions workflows: every action pinned by a full commit SHA with its version in a
 * comment, least-privilege permissions, CI running the README's test command and {@code helm lint},
 * the release pushing the image with Jib and the chart.
 */
class WorkflowsTest {

	private static final Path WORKFLOWS = Path.of(".github", "workflows");

	private static final Pattern USES = Pattern.compile("uses:\\s*(\\S+)(.*)");

	@Test
	void everyActionIsPinnedByCommitWithItsVersionInAComment() throws IOException {
		try (Stream<Path> files = Files.list(WORKFLOWS)) {
			List<Path> workflows = files.filter(path -> path.toString().endsWith(".yml")).toList();
			assertThat(workflows).hasSizeGreaterThanOrEqualTo(2);
			for (Path workflow : workflows) {
				Matcher uses = USES.matcher(Files.readString(workflow));
				int found = 0;
				while (uses.find()) {
					found++;
					assertThat(uses.group(1)).as(workflow + ": " + uses.group()).matches("[\\w.-]+/[\\w./-]+@[0-9a-f]{40}");
					assertThat(uses.group(2)).as(workflow + ": " + uses.group()).matches("\\s*# v\\d+(\\.\\d+)*\\s*");
				}
				assertThat(found).as(workflow.toString()).isPositive();
			}
		}
	}

	@Test
	void permissionsAreReadOnlyUnlessAJobNeedsMore() throws IOException {
		Map<String, Object> ci = load("ci.yml");
		assertThat(ci.get("permissions")).isEqualTo(Map.of("contents", "read"));
		assertThat(jobs(ci).values()).allSatisfy(job -> assertThat(job).doesNotContainKey("permissions"));

		Map<String, Object> release = load("release.yml");
		assertThat(release.get("permissions")).isEqualTo(Map.of("contents", "read"));
		assertThat(jobs(release).get("release")).containsEntry("permissions",
				Map.of("contents", "write", "packages", "write"));
	}

	@Test
	void ciRunsTheReadmeTestCommandAndLintsTheChart() throws IOException {
		String ci = Files.readString(WORKFLOWS.resolve("ci.yml"));
		assertThat(ci).contains("run: bash .ci/run").contains("cache: maven").contains("helm lint --strict helm/scalpel");
		// .ci/run is the README's test command, as the README spells it.
		assertThat(Files.readString(Path.of(".ci", "run"))).contains("./mvnw -B verify");
		assertThat(Files.readString(Path.of("README.md"))).contains("\n./mvnw -B verify\n");
	}

	/** The tests run on the Java the code is built for and on the Java of the container image's base. */
	@Test
	@SuppressWarnings("unchecked")
	void ciTestsOnTheBuildsJavaAndOnTheImagesJava() throws IOException {
		String pom = Files.readString(Path.of("pom.xml"));
		Matcher built = Pattern.compile("<java.version>(\\d+)</java.version>").matcher(pom);
		Matcher image = Pattern.compile("<image.base>eclipse-temurin:(\\d+)-jre</image.base>").matcher(pom);
		assertThat(built.find()).as("java.version in pom.xml").isTrue();
		assertThat(image.find()).as("image.base in pom.xml").isTrue();

		Map<String, Object> strategy = (Map<String, Object>) jobs(load("ci.yml")).get("test").get("strategy");
		List<String> javas = ((List<Object>) ((Map<String, Object>) strategy.get("matrix")).get("java")).stream()
			.map(String::valueOf)
			.toList();
		assertThat(javas).containsExactlyInAnyOrder(built.group(1), image.group(1));
		assertThat(Files.readString(WORKFLOWS.resolve("ci.yml"))).contains("java-version: ${{ matrix.java }}");
	}

	@Test
	void releasePushesTheImageWithJibAndTheChart() throws IOException {
		Map<String, Object> release = load("release.yml");
		assertThat(release.get(Boolean.TRUE)).as("on:").isEqualTo(Map.of("push", Map.of("tags", List.of("v*.*.*"))));
		String text = Files.readString(WORKFLOWS.resolve("release.yml"));
		assertThat(text).contains("jib:build").contains("ghcr.io/${{ github.repository }}")
			.contains("helm package helm/scalpel").contains("helm push");
	}

	private static Map<String, Object> load(String name) throws IOException {
		return new Yaml(new SafeConstructor(new LoaderOptions())).load(Files.readString(WORKFLOWS.resolve(name)));
	}

	@SuppressWarnings("unchecked")
	private static Map<String, Map<String, Object>> jobs(Map<String, Object> workflow) {
		return (Map<String, Map<String, Object>>) workflow.get("jobs");
	}

}
