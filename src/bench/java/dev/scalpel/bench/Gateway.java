package dev.scalpel.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Spring Cloud Gateway, the peer on Scalpel's own stack, as the {@code peers} scenario runs it: the
 * route-everything app of {@code src/bench/peers/gateway}, built here from Maven Central when its jar
 * is missing or older than its sources (the project's build does not build it), and started as
 * Scalpel is ({@link ScalpelProcess#jvmCommand}: the same {@code java}, heap, collector and core).
 */
final class Gateway implements AutoCloseable {

	/** The app's sources, from the project's directory (the bench runs there). */
	static final Path SOURCES = Path.of("src/bench/peers/gateway");

	private final Process process;

	private final int port;

	private final long started;

	private boolean pinned;

	private Gateway(Process process, int port, long started) {
		this.process = process;
		this.port = port;
		this.started = started;
		this.pinned = !ScalpelProcess.startsOnAll();
	}

	/**
	 * The app's jar, built first when it is missing or older than any of its sources (with the
	 * project's Maven wrapper, as a child process, its output in {@code log}).
	 */
	static Path jar(Path log) {
		Path jar = SOURCES.resolve("target/peer-gateway.jar").toAbsolutePath();
		try {
			FileTime newest;
			try (Stream<Path> files = Stream.concat(Stream.of(SOURCES.resolve("pom.xml")), Files.walk(SOURCES.resolve("src")))) {
				newest = files.filter(Files::isRegularFile).map(Gateway::modified).max(FileTime::compareTo).orElseThrow();
			}
			if (Files.exists(jar) && Files.getLastModifiedTime(jar).compareTo(newest) >= 0) {
				return jar;
			}
			System.out.println("   (building Spring Cloud Gateway's app: " + SOURCES + ", log " + log.getFileName() + ")");
			long building = System.nanoTime();
			Path mvnw = Path.of("mvnw").toAbsolutePath();
			Process build = new ProcessBuilder(mvnw.toString(), "-q", "-B", "-f", SOURCES.resolve("pom.xml").toString(),
					"package", "-DskipTests")
				.redirectErrorStream(true)
				.redirectOutput(log.toFile())
				.start();
			if (!build.waitFor(10, TimeUnit.MINUTES) || build.exitValue() != 0 || !Files.exists(jar)) {
				build.destroyForcibly();
				throw new IllegalStateException("Could not build " + jar + "; see " + log);
			}
			System.out.printf("   (built in %.0f s)%n", (System.nanoTime() - building) / 1e9);
			return jar;
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException(ex);
		}
	}

	private static FileTime modified(Path file) {
		try {
			return Files.getLastModifiedTime(file);
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

	/** Starts the gateway in front of {@code upstream} (an origin: every path is routed to it as it is). */
	static Gateway start(ScalpelProcess.Jvm jvm, Path jar, Path log, String heap, boolean preTouch, String upstream) {
		int port = ScalpelProcess.freePort();
		List<String> command = ScalpelProcess.jvmCommand(jvm, heap, preTouch);
		command.addAll(List.of("-jar", ScalpelProcess.extracted(jar).toString(), "--server.port=" + port,
				"--peer.upstream=" + upstream));
		long started = System.nanoTime();
		Gateway gateway = new Gateway(ScalpelProcess.launch(command, log), port, started);
		long deadline = started + Duration.ofSeconds(90).toNanos();
		while (System.nanoTime() < deadline) {
			if (!gateway.process.isAlive()) {
				throw new IllegalStateException("Spring Cloud Gateway exited with " + gateway.process.exitValue() + "; see " + log);
			}
			try {
				// Any answer will do: the upstream's 404, through the gateway.
				Http.get(gateway.origin() + "/ready");
				System.out.printf("   (Spring Cloud Gateway ready in %.1f s%s: %s)%n", (System.nanoTime() - started) / 1e9,
						ScalpelProcess.startsOnAll() ? " on all cores" : "", log.getFileName());
				return gateway;
			}
			catch (UncheckedIOException notYet) {
				ScalpelProcess.sleep(200);
			}
		}
		gateway.close();
		throw new IllegalStateException("Spring Cloud Gateway was not ready within 90 s; see " + log);
	}

	String origin() {
		return "http://127.0.0.1:" + this.port;
	}

	long pid() {
		return this.process.pid();
	}

	/** Pins it to Scalpel's core(s), as {@link ScalpelProcess#pin} pins Scalpel once warm. */
	synchronized void pin() {
		if (!this.pinned) {
			Cpus.pin(pid(), Cpus.scalpel());
			this.pinned = true;
			System.out.printf("   (Spring Cloud Gateway pinned to core(s) %s, %.1f s after its start)%n", Cpus.scalpel(),
					(System.nanoTime() - this.started) / 1e9);
		}
	}

	@Override
	public void close() {
		ScalpelProcess.stop(this.process, Duration.ofSeconds(30));
	}

}
