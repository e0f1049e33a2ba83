package dev.scalpel.bench;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.TimeUnit;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

import org.jspecify.annotations.Nullable;

/**
 * async-profiler attached to a running JVM for one window ({@code profile=true} in {@code peers}):
 * its agent from the local Maven repository ({@code tools.profiler:async-profiler:4.1}, classifier
 * {@code linux-x64}), loaded with {@code jcmd <pid> JVMTI.agent_load} (the JVM needs
 * {@code -XX:+EnableDynamicAgentLoading}), writing collapsed stacks.
 */
final class Profiler {

	private static final Path AGENT_JAR = Path.of(System.getProperty("user.home"), ".m2", "repository", "tools",
			"profiler", "async-profiler", "4.1", "async-profiler-4.1-linux-x64.jar");

	private final Path library;

	private final String jcmd;

	private Profiler(Path library, String jcmd) {
		this.library = library;
		this.jcmd = jcmd;
	}

	/**
	 * The profiler for JVMs of {@code java} (whose own {@code jcmd} attaches), its library unpacked
	 * under {@code out}; null, with the reason printed, when the agent is not in the local repository.
	 */
	static @Nullable Profiler of(String java, Path out) {
		if (!Files.exists(AGENT_JAR)) {
			System.out.println("   (profile=true: no " + AGENT_JAR + "; get it with ./mvnw dependency:get"
					+ " -Dartifact=tools.profiler:async-profiler:4.1:jar:linux-x64)");
			return null;
		}
		try (ZipFile jar = new ZipFile(AGENT_JAR.toFile())) {
			ZipEntry entry = jar.getEntry("linux-x64/libasyncProfiler.so");
			Path library = out.resolve("async-profiler").resolve("libasyncProfiler.so").toAbsolutePath();
			Files.createDirectories(library.getParent());
			try (InputStream in = jar.getInputStream(entry)) {
				Files.copy(in, library, StandardCopyOption.REPLACE_EXISTING);
			}
			Path own = Path.of(java).resolveSibling("jcmd");
			String jcmd = Files.isExecutable(own) ? own.toString()
					: Path.of(System.getProperty("java.home"), "bin", "jcmd").toString();
			return new Profiler(library, jcmd);
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

	/** Starts CPU sampling (every millisecond) in the JVM {@code pid}. */
	void start(long pid, Path collapsed) {
		agent(pid, "start,event=cpu,interval=1ms,file=" + collapsed.toAbsolutePath());
	}

	/** Stops it and writes what it sampled since {@link #start} as collapsed stacks. */
	void stop(long pid, Path collapsed) {
		agent(pid, "stop,file=" + collapsed.toAbsolutePath() + ",collapsed");
	}

	private void agent(long pid, String arguments) {
		// One argument: jcmd splits its command on spaces, and the agent's options stay together in quotes.
		String command = "JVMTI.agent_load " + this.library + " \"" + arguments + "\"";
		try {
			Process process = new ProcessBuilder(this.jcmd, Long.toString(pid), command).redirectErrorStream(true).start();
			String output = new String(process.getInputStream().readAllBytes()).strip();
			if (!process.waitFor(30, TimeUnit.SECONDS) || process.exitValue() != 0 || output.contains("rror")) {
				System.out.println("   (async-profiler: " + arguments + ": " + output + ")");
			}
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException(ex);
		}
	}

}
