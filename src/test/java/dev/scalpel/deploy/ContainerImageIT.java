package dev.scalpel.deploy;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The container image's configuration, read from the tarball that Jib's {@code image-check}
 * execution writes at {@code package} (the real image only differs in its base, Eclipse Temurin's
 * JRE, which no registry reachable from the build machine serves): entrypoint, non-root user,
 * ports, OCI labels, and layers that put dependencies apart from the application's classes.
 */
class ContainerImageIT {

	private static final Path TARBALL = Path.of("target", "jib-image.tar");

	private static Map<String, byte[]> image;

	private static JsonNode config;

	private static List<String> layers;

	@BeforeAll
	static void readTarball() throws IOException {
		assertThat(TARBALL).as("written by jib:buildTar (image-check) at package").exists();
		try (InputStream in = Files.newInputStream(TARBALL)) {
			image = Tar.read(in);
		}
		JsonNode manifest = JsonMapper.shared().readTree(image.get("manifest.json")).get(0);
		config = JsonMapper.shared().readTree(image.get(manifest.get("Config").asString()));
		layers = new ArrayList<>();
		manifest.get("Layers").forEach(layer -> layers.add(layer.asString()));
	}

	@Test
	void runsTheApplicationWithContainerAwareJvmFlags() {
		List<String> entrypoint = new ArrayList<>();
		config.path("config").path("Entrypoint").forEach(part -> entrypoint.add(part.asString()));
		assertThat(entrypoint).first().isEqualTo("java");
		assertThat(entrypoint).contains("-XX:MaxRAMPercentage=75", "-XX:+ExitOnOutOfMemoryError",
				"-XX:+UseCompactObjectHeaders");
		assertThat(entrypoint).last().isEqualTo("dev.scalpel.ScalpelApplication");
		assertThat(entrypoint).doesNotContain("-Xmx", "-Xms");
	}

	@Test
	void runsAsTheNonRootUserTheChartExpects() {
		assertThat(config.path("config").path("User").asString()).isEqualTo("1000:1000");
	}

	@Test
	void exposesTheApiAndManagementPorts() {
		assertThat(config.path("config").path("ExposedPorts").propertyNames()).containsExactlyInAnyOrder("8080/tcp",
				"8081/tcp");
	}

	@Test
	void carriesOciLabels() throws IOException {
		JsonNode labels = config.path("config").path("Labels");
		assertThat(labels.path("org.opencontainers.image.title").asString()).isEqualTo("Scalpel");
		assertThat(labels.path("org.opencontainers.image.version").asString()).isEqualTo(projectVersion());
		assertThat(labels.path("org.opencontainers.image.source").asString()).startsWith("https://github.com/");
		String revision = labels.path("org.opencontainers.image.revision").asString();
		if (Files.exists(Path.of(".git"))) {
			assertThat(revision).as("the commit built").matches("[0-9a-f]{40}");
		}
		else {
			assertThat(revision).isEqualTo("unknown");
		}
	}

	@Test
	void dependenciesResourcesAndClassesAreSeparateLayers() throws IOException {
		assertThat(layers).hasSizeGreaterThanOrEqualTo(3);
		List<List<String>> contents = new ArrayList<>();
		for (String layer : layers) {
			try (InputStream in = new GZIPInputStream(new java.io.ByteArrayInputStream(image.get(layer)))) {
				contents.add(new ArrayList<>(Tar.read(in).keySet()));
			}
		}
		// Dependencies change rarely: their layer holds no class of ours, and ours holds no jar.
		assertThat(contents).anySatisfy(files -> assertThat(files).anyMatch(file -> file.matches("app/libs/reactor-core-.*\\.jar"))
			.noneMatch(file -> file.startsWith("app/classes/")));
		assertThat(contents)
			.anySatisfy(files -> assertThat(files).contains("app/classes/dev/scalpel/ScalpelApplication.class")
				.noneMatch(file -> file.endsWith(".jar")));
		assertThat(contents).anySatisfy(files -> assertThat(files).contains("app/resources/application.yaml"));
	}

	private static String projectVersion() throws IOException {
		String pom = Files.readString(Path.of("pom.xml"));
		int artifact = pom.indexOf("<artifactId>scalpel</artifactId>");
		int start = pom.indexOf("<version>", artifact) + "<version>".length();
		return pom.substring(start, pom.indexOf("</version>", start));
	}

	/** Reads a tar stream (ustar with pax headers, as Jib writes) into file name → content. */
	static final class Tar {

		static Map<String, byte[]> read(InputStream in) throws IOException {
			Map<String, byte[]> files = new LinkedHashMap<>();
			String paxPath = null;
			byte[] header = new byte[512];
			while (in.readNBytes(header, 0, 512) == 512 && header[0] != 0) {
				String name = field(header, 0, 100);
				String prefix = field(header, 345, 155);
				String octal = field(header, 124, 12).trim();
				long size = octal.isEmpty() ? 0 : Long.parseLong(octal, 8);
				byte type = header[156];
				byte[] content = in.readNBytes((int) size);
				in.skipNBytes((512 - size % 512) % 512);
				if (type == 'x') {
					paxPath = paxPath(new String(content, StandardCharsets.UTF_8));
					continue;
				}
				String path = (paxPath != null) ? paxPath : (prefix.isEmpty() ? name : prefix + "/" + name);
				paxPath = null;
				files.put(path, content);
			}
			return files;
		}

		private static String field(byte[] header, int offset, int length) {
			int end = offset;
			while (end < offset + length && header[end] != 0) {
				end++;
			}
			return new String(header, offset, end - offset, StandardCharsets.UTF_8);
		}

		private static String paxPath(String records) {
			for (String record : records.split("\n")) {
				int space = record.indexOf(' ');
				if (space > 0 && record.startsWith("path=", space + 1)) {
					return record.substring(space + 1 + "path=".length());
				}
			}
			return null;
		}

	}

}
