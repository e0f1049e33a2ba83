package dev.scalpel.support;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * Prints each thread of its own JVM as {@code name<TAB>nice}, from {@code /proc/self/task} (Linux):
 * {@code ContainerImageIT} runs it with the image's JVM options to see what they did to the threads.
 */
public final class ThreadNiceness {

	private ThreadNiceness() {
	}

	public static void main(String[] args) throws IOException {
		try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task"))) {
			for (Path task : tasks.toList()) {
				String name;
				String stat;
				try {
					name = Files.readString(task.resolve("comm")).strip();
					stat = Files.readString(task.resolve("stat"));
				}
				catch (IOException ended) {
					continue; // the thread ended while listed
				}
				// After the command in parentheses (which may hold spaces): state is field 3, nice field 19.
				String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
				System.out.println(name + "\t" + fields[16]);
			}
		}
	}

}
