package dev.scalpel.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Splits the machine's cores between the system under test and the rest of the bench: Scalpel gets
 * the upper half, the load generator (this JVM) and the upstream server the lower half. Without it
 * the three processes take CPU from each other and a figure says as much about the scheduler as
 * about Scalpel; with it the baseline (client and upstream alone) runs on exactly the cores the
 * client and upstream have when Scalpel is between them. {@code pin=false} turns it off; it is off
 * where {@code taskset} is missing or there is one core.
 */
final class Cpus {

	private static final int CORES = Runtime.getRuntime().availableProcessors();

	private static final boolean ENABLED = CORES >= 2 && !"false".equals(System.getProperty("bench.pin"))
			&& Files.isExecutable(Path.of("/usr/bin/taskset"));

	private Cpus() {
	}

	/** The machine's cores (read before this JVM pinned itself to some of them). */
	static int cores() {
		return CORES;
	}

	static boolean enabled() {
		return ENABLED;
	}

	/** The cores of the bench itself and the upstream server, as taskset's list: "0" on two cores. */
	static String bench() {
		return range(0, CORES / 2);
	}

	/** Scalpel's cores: "1" on two cores. */
	static String scalpel() {
		return range(CORES / 2, CORES);
	}

	/** How many cores Scalpel may use. */
	static int scalpelCores() {
		return ENABLED ? CORES - CORES / 2 : CORES;
	}

	/** A description for the results. */
	static String describe() {
		return ENABLED ? "Scalpel on core(s) " + scalpel() + "; load generator and upstream on core(s) " + bench()
				: "not pinned: all processes share all cores";
	}

	/** The command, run on the given cores when pinning is on. */
	static List<String> on(String cpus, List<String> command) {
		if (!ENABLED) {
			return command;
		}
		List<String> pinned = new ArrayList<>(List.of("/usr/bin/taskset", "-c", cpus));
		pinned.addAll(command);
		return pinned;
	}

	/** The command, run on all the machine's cores when pinning is on (for a start: see {@link #pin}). */
	static List<String> onAll(List<String> command) {
		return on(range(0, CORES), command);
	}

	/**
	 * Pins a running process, every thread it has (and so every thread those start later), to the
	 * given cores, and checks each thread: one started while {@code taskset} went through them kept its
	 * creator's cores, so the pass is repeated until none has.
	 */
	static void pin(long pid, String cpus) {
		if (!ENABLED) {
			return;
		}
		for (int pass = 0; pass < 10; pass++) {
			taskset(pid, cpus);
			if (unpinnedThreads(pid, cpus).isEmpty()) {
				return;
			}
		}
		throw new IllegalStateException("threads of " + pid + " not pinned to " + cpus + ": " + unpinnedThreads(pid, cpus));
	}

	/** The threads of the process whose allowed cores are not the given ones (as the kernel lists them). */
	private static List<String> unpinnedThreads(long pid, String cpus) {
		List<String> unpinned = new ArrayList<>();
		ProcTasks.forEach(pid, task -> {
			String allowed = Files.readAllLines(task.resolve("status"))
				.stream()
				.filter(line -> line.startsWith("Cpus_allowed_list:"))
				.map(line -> line.substring(line.indexOf(':') + 1).strip())
				.findFirst()
				.orElse("");
			if (!allowed.equals(cpus)) {
				unpinned.add(task.getFileName() + " (" + allowed + ")");
			}
		});
		return unpinned;
	}

	/** Pins this JVM (every thread it has, and so every thread it starts later) to the bench's cores. */
	static void pinSelf() {
		if (ENABLED) {
			taskset(bench());
		}
	}

	private static void taskset(String cpus) {
		taskset(ProcessHandle.current().pid(), cpus);
	}

	private static void taskset(long pid, String cpus) {
		try {
			Process process = new ProcessBuilder("/usr/bin/taskset", "-a", "-p", "-c", cpus, Long.toString(pid))
				.redirectErrorStream(true)
				.redirectOutput(ProcessBuilder.Redirect.DISCARD)
				.start();
			if (process.waitFor() != 0) {
				throw new IllegalStateException("taskset failed to pin " + pid + " to " + cpus);
			}
		}
		catch (IOException ex) {
			throw new IllegalStateException(ex);
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException(ex);
		}
	}

	/**
	 * Gives this JVM all the machine's cores again: for the JMH microbenchmarks, whose forks inherit
	 * the affinity and measure contention between threads that must run on separate cores.
	 */
	static void unpinSelf() {
		if (ENABLED) {
			taskset(range(0, CORES));
		}
	}

	private static String range(int from, int to) {
		return (to - from == 1) ? Integer.toString(from) : from + "-" + (to - 1);
	}

}
