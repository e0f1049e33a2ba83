package dev.scalpel.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The kernel's TCP counters that say when the rig, not Scalpel, made a request wait: SYNs dropped
 * because a listening socket's accept queue was full, and SYNs sent again (each retransmission of a
 * connection attempt waits 1, then 2, 4, 8 s). Read from {@code /proc/net/netstat} (machine-wide, so
 * a delta over a scenario counts every process of the bench); empty where it cannot be read.
 */
record TcpCounters(Map<String, Long> values) {

	/** The counters kept: name in /proc/net/netstat to what it says. */
	static final Map<String, String> KEPT = Map.of("ListenOverflows", "SYNs dropped: accept queue full",
			"TCPSynRetrans", "SYNs retransmitted");

	static TcpCounters read() {
		Map<String, Long> values = new LinkedHashMap<>();
		try {
			List<String> lines = Files.readAllLines(Path.of("/proc/net/netstat"));
			// Pairs of lines: "TcpExt: Name Name ..." then "TcpExt: 1 2 ...".
			for (int i = 0; i + 1 < lines.size(); i += 2) {
				String[] names = lines.get(i).split("\\s+");
				String[] numbers = lines.get(i + 1).split("\\s+");
				for (int j = 1; j < Math.min(names.length, numbers.length); j++) {
					if (KEPT.containsKey(names[j])) {
						values.put(names[j], Long.parseLong(numbers[j]));
					}
				}
			}
		}
		catch (IOException | RuntimeException unreadable) {
			// Not Linux, or another format: no counters.
		}
		return new TcpCounters(values);
	}

	/** What each counter went up by since {@code before}. */
	Map<String, Long> since(TcpCounters before) {
		Map<String, Long> delta = new LinkedHashMap<>();
		this.values.forEach((name, value) -> delta.put(name, value - before.values.getOrDefault(name, value)));
		return delta;
	}

}
