package dev.scalpel.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.jspecify.annotations.Nullable;

import dev.scalpel.support.Jdks;

/**
 * Scalpel as its users run it: the built jar in its own JVM (its own heap limit), on free ports, its
 * output in a log file. Reads its Prometheus page, and can make it collect garbage (with {@code jcmd})
 * so that its heap can be measured.
 */
final class ScalpelProcess implements AutoCloseable {

	private final Process process;

	final int port;

	final int managementPort;

	private final long started;

	private boolean pinned;

	private ScalpelProcess(Process process, int port, int managementPort, boolean pinned, long started) {
		this.process = process;
		this.port = port;
		this.managementPort = managementPort;
		this.pinned = pinned;
		this.started = started;
	}

	/**
	 * Pins Scalpel, every thread it has, to its own cores (Scalpel's half of the machine), where it
	 * started on all of them: called by each scenario once its warm-up is over, and before anything is
	 * measured. Does nothing the second time, or where pinning is off.
	 */
	synchronized void pin() {
		if (!this.pinned) {
			Cpus.pin(pid(), Cpus.scalpel());
			this.pinned = true;
			System.out.printf("   (Scalpel pinned to core(s) %s, %.1f s after its start)%n", Cpus.scalpel(),
					(System.nanoTime() - this.started) / 1e9);
		}
	}

	/**
	 * @param preTouch whether the JVM touches its whole heap at its start ({@code -XX:+AlwaysPreTouch}):
	 * on this VM a page's first touch is expensive, and without it the young-collection pauses of a
	 * new JVM's first minutes reach hundreds of milliseconds, most of it system time. It costs about
	 * ten seconds per gigabyte at the start here, so scenarios that do not time Scalpel's pauses skip it.
	 */
	static ScalpelProcess start(Path jar, Path log, String heap, boolean preTouch, String upstreamBaseUrl,
			List<String> properties) {
		return start(Jvm.configured(), jar, log, heap, preTouch, upstreamBaseUrl, properties);
	}

	/**
	 * The JVM Scalpel runs on: a {@code java} launcher and extra options, space-separated; options that
	 * pick a collector ({@code -XX:+UseZGC}) replace the default G1.
	 */
	record Jvm(String java, String options) {

		/**
		 * Scalpel's JVM: {@code scalpel.java} if set, else {@link #imageJava()}, with {@code scalpel.jvm}
		 * options.
		 */
		static Jvm configured() {
			String java = System.getProperty("bench.scalpel.java");
			return new Jvm((java != null) ? java : ImageJava.LAUNCHER, System.getProperty("bench.scalpel.jvm", "").strip());
		}

		/** {@link #imageJava()}, looked for once per run (each Scalpel start asks). */
		private static final class ImageJava {

			static final String LAUNCHER = imageJava();

		}

		/**
		 * A {@code java} of the major version the container image runs ({@code image.base}, e.g.
		 * {@code eclipse-temurin:25-jre}): the bench's own if it is that version, else the first JDK of
		 * that version under {@code /usr/lib/jvm} (by its {@code release} file), else the bench's own, with
		 * a warning: Scalpel is measured as it runs in its image where the machine allows.
		 */
		static String imageJava() {
			String own = Path.of(System.getProperty("java.home"), "bin", "java").toString();
			Matcher base = Pattern.compile(":(\\d+)").matcher(System.getProperty("bench.image.base", ""));
			if (!base.find()) {
				return own;
			}
			int wanted = Integer.parseInt(base.group(1));
			if (Runtime.version().feature() == wanted) {
				return own;
			}
			Optional<String> installed = Jdks.find(Jdks.installed(), feature -> feature == wanted);
			if (installed.isPresent()) {
				return installed.get();
			}
			System.out.println("   (no Java " + wanted + ", the image's, found in /usr/lib/jvm: Scalpel runs on "
					+ Runtime.version().feature() + "; set scalpel.java=)");
			return own;
		}

		/** {@code alt.java} and {@code alt.jvm}, for the {@code steady (alt)} variant; null when neither is set. */
		static @Nullable Jvm alternative() {
			String java = System.getProperty("bench.alt.java");
			String options = System.getProperty("bench.alt.jvm");
			if (java == null && options == null) {
				return null;
			}
			Jvm configured = configured();
			return new Jvm((java != null) ? java : configured.java(), (options != null) ? options.strip() : configured.options());
		}

	}

	static ScalpelProcess start(Jvm jvm, Path jar, Path log, String heap, boolean preTouch, String upstreamBaseUrl,
			List<String> properties) {
		int port = freePort();
		int managementPort = freePort();
		List<String> command = jvmCommand(jvm, heap, preTouch);
		if (Boolean.getBoolean("bench.jfr")) {
			// A flight recording of the whole run, for profiling: target/bench/<log name>.jfr
			String name = log.getFileName().toString().replace(".log", ".jfr");
			command.add("-XX:FlightRecorderOptions=stackdepth=512");
			command.add("-XX:StartFlightRecording=filename=" + log.resolveSibling(name) + ",settings=profile,dumponexit=true");
		}
		command.addAll(List.of("-jar", extracted(jar).toString(), "--server.port=" + port,
				"--management.server.port=" + managementPort, "--scalpel.streams.drain-timeout=1s",
				"--scalpel.providers.endpoints[0].name=upstream", "--scalpel.providers.endpoints[0].type=openai",
				"--scalpel.providers.endpoints[0].base-url=" + upstreamBaseUrl,
				"--scalpel.providers.endpoints[0].models[0]=bench"));
		properties.forEach(property -> command.add("--" + property));
		long started = System.nanoTime();
		Process process = launch(command, log);
		ScalpelProcess scalpel = new ScalpelProcess(process, port, managementPort, !startsOnAll(), started);
		scalpel.awaitReady(Duration.ofSeconds(90));
		System.out.printf("   (Scalpel ready in %.1f s%s: %s)%n", (System.nanoTime() - started) / 1e9,
				startsOnAll() ? " on all cores" : "", log.getFileName());
		return scalpel;
	}

	/**
	 * The command that starts a JVM as Scalpel's is started, up to its main class or jar: the heap,
	 * G1 unless the options pick a collector, compact object headers as the image has them, the
	 * options, and the cores it will have once pinned. Also for the peers the {@code peers} scenario
	 * runs on Scalpel's core (Spring Cloud Gateway), so that both run alike.
	 */
	static List<String> jvmCommand(Jvm jvm, String heap, boolean preTouch) {
		List<String> command = new ArrayList<>(List.of(jvm.java(), "-Xms" + heap, "-Xmx" + heap));
		if (preTouch) {
			command.add("-XX:+AlwaysPreTouch");
		}
		if (!jvm.options().matches(".*-XX:\\+Use\\w+GC.*")) {
			command.add("-XX:+UseG1GC");
		}
		// As the image runs it (its JAVA_TOOL_OPTIONS, image.jvm.options in pom.xml), on a Java that has
		// the option.
		if (Jdks.featureOf(Jdks.version(jvm.java())) >= 25 && !jvm.options().contains("CompactObjectHeaders")) {
			command.add("-XX:+UseCompactObjectHeaders");
		}
		if (!jvm.options().isEmpty()) {
			command.addAll(List.of(jvm.options().split("\\s+")));
		}
		// It is told from the start how many cores it will have, so that it sizes itself (event loops, GC
		// and compiler threads) as it would pinned (see launch).
		if (startsOnAll() && !jvm.options().contains("ActiveProcessorCount")) {
			command.add(1, "-XX:ActiveProcessorCount=" + Cpus.scalpelCores());
		}
		return command;
	}

	/**
	 * Whether a JVM on Scalpel's side starts on all cores, to be pinned to its own by {@link #pin} once
	 * warm: on one core Scalpel's start took 20-22 s, more than half of it the JIT compiler's threads
	 * (async-profiler), and on both 9-11 s; and under load the compiler took half of its one core for
	 * its first one to two minutes, which on both cores it does beside the load. start.pinned=true
	 * starts it on its own core(s), as earlier rounds did.
	 */
	static boolean startsOnAll() {
		return Cpus.enabled() && !Boolean.getBoolean("bench.start.pinned");
	}

	/** Starts a command of {@link #jvmCommand} on all cores or on Scalpel's (see {@link #startsOnAll}), its output to {@code log}. */
	static Process launch(List<String> command, Path log) {
		try {
			return new ProcessBuilder(startsOnAll() ? Cpus.onAll(command) : Cpus.on(Cpus.scalpel(), command))
				.redirectErrorStream(true)
				.redirectOutput(log.toFile())
				.start();
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

	/**
	 * The jar as the container image runs it: unpacked, its dependencies as separate jars on the class
	 * path rather than nested in one (Jib lays the image out that way; Spring Boot's
	 * {@code -Djarmode=tools extract} gives the same for {@code java -jar}). Unpacked once per jar and
	 * build, under {@code target/bench/extracted}. On one core Scalpel started in 17–20 s unpacked
	 * against 23–28 s from the nested jar (sessions 12 and 13, by hand): each scenario pays a start.
	 */
	static synchronized Path extracted(Path jar) {
		try {
			Path absolute = jar.toAbsolutePath().normalize();
			String samePath = Integer.toHexString(absolute.toString().hashCode()) + "-";
			String build = samePath + Files.size(absolute) + "-" + Files.getLastModifiedTime(absolute).toMillis();
			Path destination = Path.of(System.getProperty("bench.out", "target/bench"), "extracted", build)
				.toAbsolutePath();
			Path unpacked = destination.resolve(absolute.getFileName());
			if (Files.exists(unpacked)) {
				return unpacked;
			}
			// Earlier builds of the same jar are of no more use.
			if (Files.isDirectory(destination.getParent())) {
				try (Stream<Path> earlier = Files.list(destination.getParent())) {
					for (Path old : earlier.filter(path -> path.getFileName().toString().startsWith(samePath)).toList()) {
						deleteRecursively(old);
					}
				}
			}
			Path partial = destination.resolveSibling(build + ".partial");
			Process extract = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
					"-Djarmode=tools", "-jar", absolute.toString(), "extract", "--destination", partial.toString())
				.redirectErrorStream(true)
				.redirectOutput(ProcessBuilder.Redirect.DISCARD)
				.start();
			if (!extract.waitFor(120, TimeUnit.SECONDS) || extract.exitValue() != 0) {
				extract.destroyForcibly();
				throw new IllegalStateException("Could not extract " + absolute + " (java -Djarmode=tools -jar ... extract)");
			}
			Files.move(partial, destination);
			return unpacked;
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException(ex);
		}
	}

	private static void deleteRecursively(Path directory) throws IOException {
		if (!Files.exists(directory)) {
			return;
		}
		try (Stream<Path> paths = Files.walk(directory)) {
			for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
				Files.delete(path);
			}
		}
	}

	String baseUrl() {
		return "http://127.0.0.1:" + this.port;
	}

	long pid() {
		return this.process.pid();
	}

	/** The CPU time the process has used so far, user and kernel, in nanoseconds (/proc/<pid>/stat). */
	long cpuNanos() {
		long[] times = cpuTimes();
		return times[0] + times[1];
	}

	/** CPU time the process has used in the kernel (system calls, and the network stack it runs). */
	long kernelCpuNanos() {
		return cpuTimes()[1];
	}

	/** User and kernel CPU time, from {@code /proc/<pid>/stat}. */
	private long[] cpuTimes() {
		try {
			return cpuTimes(Path.of("/proc", Long.toString(pid()), "stat"));
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

	private static long[] cpuTimes(Path stat) throws IOException {
		String line = Files.readString(stat);
		// After "pid (comm) ": state is field 3, utime field 14, stime field 15.
		String[] fields = line.substring(line.lastIndexOf(')') + 2).split(" ");
		long tick = 1_000_000_000L / 100; // USER_HZ is 100 on Linux
		return new long[] { Long.parseLong(fields[11]) * tick, Long.parseLong(fields[12]) * tick };
	}

	/**
	 * CPU time so far (user and kernel) of the process's threads, by what they do: {@code loops} (the
	 * Reactor Netty event loops, where requests and streams run), {@code jit} (the JIT compiler's
	 * threads), {@code gc} and {@code other}. Threads that ended are not counted.
	 */
	Map<String, Long> cpuNanosByThreads() {
		return cpuNanosByThreads(pid());
	}

	/** {@link #cpuNanosByThreads()} of any JVM (Spring Cloud Gateway's loops are Reactor Netty's too). */
	static Map<String, Long> cpuNanosByThreads(long pid) {
		Map<String, Long> groups = new LinkedHashMap<>();
		for (String group : List.of("loops", "jit", "gc", "other")) {
			groups.put(group, 0L);
		}
		ProcTasks.forEach(pid, task -> {
			String name = Files.readString(task.resolve("comm")).strip();
			long[] times = cpuTimes(task.resolve("stat"));
			groups.merge(threadGroup(name), times[0] + times[1], Long::sum);
		});
		return groups;
	}

	/** A thread's group by its name (Linux keeps the first 15 characters). */
	static String threadGroup(String name) {
		if (name.startsWith("reactor-http")) {
			return "loops";
		}
		if (name.startsWith("C2 Compiler") || name.startsWith("C1 Compiler")) {
			return "jit";
		}
		if (name.startsWith("GC Thread") || name.startsWith("G1 ") || name.equals("VM Thread")) {
			return "gc";
		}
		return "other";
	}

	private void awaitReady(Duration timeout) {
		long deadline = System.nanoTime() + timeout.toNanos();
		while (System.nanoTime() < deadline) {
			if (!this.process.isAlive()) {
				throw new IllegalStateException("Scalpel exited with " + this.process.exitValue() + "; see its log");
			}
			try {
				if (Http.get("http://127.0.0.1:" + this.managementPort + "/actuator/health/readiness")
					.statusCode() == 200) {
					return;
				}
			}
			catch (UncheckedIOException notYet) {
				// still starting
			}
			sleep(200);
		}
		throw new IllegalStateException("Scalpel was not ready within " + timeout);
	}

	/** Its management port's base URL, {@code http://127.0.0.1:<port>}. */
	String managementUrl() {
		return "http://127.0.0.1:" + this.managementPort;
	}

	/** The Prometheus page of its management port. */
	Prometheus prometheus() {
		return new Prometheus(Http.get(managementUrl() + "/actuator/prometheus").body());
	}

	/** Writes the process's threads and their stacks ({@code jcmd <pid> Thread.print}). */
	void threadDump(Path file) {
		jcmd(file, "Thread.print");
	}

	/** Writes the process's live-object histogram ({@code jcmd <pid> GC.class_histogram}, after a full GC). */
	void histogram(Path file) {
		jcmd(file, "GC.class_histogram");
	}

	private void jcmd(Path file, String command) {
		try {
			Process jcmd = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
					Long.toString(pid()), command).redirectErrorStream(true)
				.redirectOutput(file.toFile())
				.start();
			jcmd.waitFor(60, TimeUnit.SECONDS);
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
		}
	}

	/** Runs a full garbage collection in the process ({@code jcmd <pid> GC.run}). */
	void collectGarbage() {
		try {
			Process jcmd = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
					Long.toString(pid()), "GC.run").redirectErrorStream(true).start();
			jcmd.getInputStream().readAllBytes();
			jcmd.waitFor(30, TimeUnit.SECONDS);
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException(ex);
		}
	}

	@Override
	public void close() {
		stop(this.process, Duration.ofSeconds(30));
	}

	/**
	 * Stops a process of the rig: asks it to end, waits up to {@code grace}, then kills it and waits a
	 * little more.
	 */
	static void stop(Process process, Duration grace) {
		process.destroy();
		try {
			if (!process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
				process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
			}
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
		}
	}

	static int freePort() {
		try (ServerSocket socket = new ServerSocket(0)) {
			return socket.getLocalPort();
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

	static void sleep(long millis) {
		try {
			Thread.sleep(millis);
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException(ex);
		}
	}

}
