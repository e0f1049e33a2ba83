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
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import dev.scalpel.support.Jdks;
import dev.scalpel.support.ThreadNiceness;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The container image's configuration, read from the tarball that Jib's {@code image-check}
 * execution writes at {@code package} (the real image only differs in its base, Eclipse Temurin's
 * JRE, which no registry reachable from the build machine serves): entrypoint and JVM options (with
 * the chart's, run on a real JVM), non-root user, ports, OCI labels, and layers that put dependencies
 * apart from the application's classes.
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
	void runsTheApplicationWithNoJvmFlagOnItsCommandLine() {
		List<String> entrypoint = entrypoint();
		assertThat(entrypoint).first().isEqualTo("java");
		assertThat(entrypoint).last().isEqualTo("dev.scalpel.ScalpelApplication");
		// A flag on the command line wins over JAVA_TOOL_OPTIONS: the chart could not change it.
		assertThat(entrypoint).noneMatch(part -> part.startsWith("-XX:") || part.startsWith("-Xm"));
	}

	@Test
	void itsJvmOptionsAreItsJavaToolOptions() {
		assertThat(imageEnv("JAVA_TOOL_OPTIONS")).isEqualTo(System.getProperty("image.jvm.options"))
			.contains("-XX:MaxRAMPercentage=75", "-XX:+ExitOnOutOfMemoryError", "-XX:+UseG1GC",
					"-XX:+UseCompactObjectHeaders")
			.doesNotContain("-Xmx", "-Xms");
	}

	@Test
	void theChartGivesTheImagesJvmOptionsByDefault() {
		assertThat(HelmChartTest.javaToolOptions(HelmChartTest.render("default")))
			.isEqualTo(imageEnv("JAVA_TOOL_OPTIONS"));
	}

	/**
	 * What the container's JVM runs with: the image's entrypoint, and its own JAVA_TOOL_OPTIONS or the
	 * chart's. Before, the image's options were on the command line, where they won: the chart's
	 * {@code jvm.maxRamPercentage} did nothing, and a collector in {@code jvm.extraOptions} stopped the JVM.
	 */
	@Test
	void theJvmTakesTheImagesOptionsAndTheChartsInstead() throws Exception {
		String java = java24OrNewer();
		Map<String, String> image = finalFlags(java, imageEnv("JAVA_TOOL_OPTIONS"));
		assertThat(image).containsEntry("MaxRAMPercentage", "75.000000")
			.containsEntry("ExitOnOutOfMemoryError", "true")
			.containsEntry("UseG1GC", "true")
			.containsEntry("UseCompactObjectHeaders", "true");
		String chart = HelmChartTest.javaToolOptions(HelmChartTest.render(Map.of("jvm.maxRamPercentage", "60",
				"jvm.extraOptions", "-XX:+UseSerialGC -XX:-UseCompactObjectHeaders")));
		assertThat(finalFlags(java, chart)).containsEntry("MaxRAMPercentage", "60.000000")
			.containsEntry("ExitOnOutOfMemoryError", "true")
			.containsEntry("UseSerialGC", "true")
			.containsEntry("UseG1GC", "false")
			.containsEntry("UseCompactObjectHeaders", "false");
	}

	/**
	 * The JIT compiler's threads below the event loops, as docs/deployment.md suggests for replicas
	 * that run below a full core (through the chart's {@code jvm.extraOptions}): they run at nice 10 and
	 * the application's threads at 0. As root the JVM also raises its own GC and VM threads above 0;
	 * the image runs as 1000, where those changes are refused, silently.
	 */
	@Test
	void theChartsExtraOptionsCanPutTheJitCompilerBelowTheEventLoops() throws Exception {
		String options = HelmChartTest.javaToolOptions(HelmChartTest
			.render(Map.of("jvm.extraOptions", "-XX:ThreadPriorityPolicy=1 -XX:CompilerThreadPriority=10")));
		String output = asTheImageRunsIt(java24OrNewer(), options, "-cp", System.getProperty("java.class.path"),
				ThreadNiceness.class.getName());
		List<String> compilers = new ArrayList<>();
		Integer main = null;
		for (String line : output.split("\n")) {
			String[] thread = line.split("\t");
			if (thread.length != 2 || !thread[1].matches("-?\\d+")) {
				continue; // "Picked up JAVA_TOOL_OPTIONS", the JVM's warning when not root
			}
			if (thread[0].contains("CompilerThre")) {
				compilers.add(thread[0]);
				assertThat(Integer.parseInt(thread[1])).as(thread[0] + " in\n" + output).isEqualTo(10);
			}
			if (thread[0].equals("java")) {
				// The launcher's thread and the main thread, named after the process.
				main = Integer.parseInt(thread[1]);
				assertThat(main).as(thread[0] + " in\n" + output).isZero();
			}
		}
		assertThat(compilers).as(output).anyMatch(name -> name.startsWith("C1 "))
			.anyMatch(name -> name.startsWith("C2 "));
		assertThat(main).as(output).isNotNull();
	}

	private static List<String> entrypoint() {
		List<String> entrypoint = new ArrayList<>();
		config.path("config").path("Entrypoint").forEach(part -> entrypoint.add(part.asString()));
		return entrypoint;
	}

	private static String imageEnv(String name) {
		List<String> values = new ArrayList<>();
		config.path("config").path("Env").forEach(variable -> {
			String entry = variable.asString();
			if (entry.startsWith(name + "=")) {
				values.add(entry.substring(name.length() + 1));
			}
		});
		assertThat(values).as("the image's " + name).hasSize(1);
		return values.get(0);
	}

	/**
	 * Runs {@code java} as the image's entrypoint starts it (its JVM arguments: those before
	 * {@code -cp}) with {@code JAVA_TOOL_OPTIONS} set to the given options and these arguments after;
	 * its output and error, once it has exited 0.
	 */
	private static String asTheImageRunsIt(String java, String javaToolOptions, String... arguments) throws Exception {
		List<String> entrypoint = entrypoint();
		List<String> command = new ArrayList<>(List.of(java));
		command.addAll(entrypoint.subList(1, entrypoint.indexOf("-cp")));
		command.addAll(List.of(arguments));
		ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
		builder.environment().put("JAVA_TOOL_OPTIONS", javaToolOptions);
		Process process = builder.start();
		String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
		assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
		assertThat(process.exitValue()).as(output).isZero();
		return output;
	}

	/** The JVM's final flags when it starts as the image runs it with these options. */
	private static Map<String, String> finalFlags(String java, String javaToolOptions) throws Exception {
		String output = asTheImageRunsIt(java, javaToolOptions, "-XX:+PrintFlagsFinal", "-version");
		Map<String, String> flags = new LinkedHashMap<>();
		Matcher flag = Pattern.compile("(?m)^\\s*\\S+\\s+(\\w+)\\s+:?=\\s+(\\S*)\\s+\\{").matcher(output);
		while (flag.find()) {
			flags.put(flag.group(1), flag.group(2));
		}
		return flags;
	}

	/**
	 * A Java launcher of version 24 or newer, the image's options need one (compact object headers):
	 * this JVM's, or a JDK that setup-java or the system installed. Without one the test cannot run here.
	 */
	private static String java24OrNewer() {
		if (Runtime.version().feature() >= 24) {
			return Path.of(System.getProperty("java.home"), "bin", "java").toString();
		}
		List<Path> homes = new ArrayList<>();
		System.getenv().forEach((name, value) -> {
			if (name.matches("JAVA_HOME_\\d+_.*")) {
				homes.add(Path.of(value));
			}
		});
		homes.addAll(Jdks.installed());
		Optional<String> java = Jdks.find(homes, feature -> feature >= 24);
		if (java.isPresent()) {
			return java.get();
		}
		return Assumptions.abort("no Java 24 or newer on this machine to run the image's JVM options with");
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
		List<List<String>> contents = layerFiles();
		// Dependencies change rarely: their layer holds no class of ours, and ours holds no jar.
		assertThat(contents).anySatisfy(files -> assertThat(files).anyMatch(file -> file.matches("app/libs/reactor-core-.*\\.jar"))
			.noneMatch(file -> file.startsWith("app/classes/")));
		assertThat(contents)
			.anySatisfy(files -> assertThat(files).contains("app/classes/dev/scalpel/ScalpelApplication.class")
				.noneMatch(file -> file.endsWith(".jar")));
		assertThat(contents).anySatisfy(files -> assertThat(files).contains("app/resources/application.yaml"));
	}

	@Test
	void carriesNoNativeLibraryForHttp3() throws IOException {
		List<String> files = layerFiles().stream().flatMap(List::stream).toList();
		// Reactor Netty brings QUIC's native libraries for five platforms (12 MB) for HTTP/3, which
		// Scalpel uses on neither side; pom.xml excludes them. Their classes, and epoll's library, stay.
		assertThat(files).noneMatch(file -> file.matches("app/libs/netty-codec-native-quic-.*\\.jar"))
			.anyMatch(file -> file.matches("app/libs/netty-codec-classes-quic-.*\\.jar"))
			.anyMatch(file -> file.matches("app/libs/netty-transport-native-epoll-.*-linux-x86_64\\.jar"));
	}

	/** The files of each layer, in the layers' order. */
	private static List<List<String>> layerFiles() throws IOException {
		List<List<String>> contents = new ArrayList<>();
		for (String layer : layers) {
			try (InputStream in = new GZIPInputStream(new java.io.ByteArrayInputStream(image.get(layer)))) {
				contents.add(new ArrayList<>(Tar.read(in).keySet()));
			}
		}
		return contents;
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
