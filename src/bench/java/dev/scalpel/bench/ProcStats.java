package dev.scalpel.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;

/**
 * CPU time and resident memory of any process (a proxy the bench runs beside Scalpel), as Linux
 * reports them under {@code /proc/<pid>}.
 */
final class ProcStats {

	private ProcStats() {
	}

	/** The CPU time the process has used so far, user and kernel, in nanoseconds ({@code /proc/<pid>/stat}). */
	static long cpuNanos(long pid) {
		try {
			String line = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
			// After "pid (comm) ": state is field 3, utime field 14, stime field 15; USER_HZ is 100.
			String[] fields = line.substring(line.lastIndexOf(')') + 2).split(" ");
			return (Long.parseLong(fields[11]) + Long.parseLong(fields[12])) * 10_000_000L;
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

	/** The CPU time of several processes together (nginx's master and worker). */
	static long cpuNanos(Collection<Long> pids) {
		return pids.stream().mapToLong(ProcStats::cpuNanos).sum();
	}

	/** The process's resident set in bytes ({@code VmRSS} of {@code /proc/<pid>/status}). */
	static long rssBytes(long pid) {
		try {
			for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
				if (line.startsWith("VmRSS:")) {
					return Long.parseLong(line.substring(6).replace("kB", "").strip()) * 1024;
				}
			}
			return 0;
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

	static long rssBytes(Collection<Long> pids) {
		return pids.stream().mapToLong(ProcStats::rssBytes).sum();
	}

}
