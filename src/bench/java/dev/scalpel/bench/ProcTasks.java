package dev.scalpel.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/** The threads of a process, as Linux lists them under {@code /proc/<pid>/task}. */
final class ProcTasks {

	/** Reads one thread's directory ({@code /proc/<pid>/task/<tid>}). */
	@FunctionalInterface
	interface Reader {

		void read(Path task) throws IOException;

	}

	private ProcTasks() {
	}

	/** Reads each thread of the process; a thread that ends while it is read is skipped. */
	static void forEach(long pid, Reader reader) {
		try (Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
			for (Path task : tasks.toList()) {
				try {
					reader.read(task);
				}
				catch (IOException ex) {
					// the thread ended while we read it
				}
			}
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

}
