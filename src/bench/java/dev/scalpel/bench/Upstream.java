package dev.scalpel.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** The {@link UpstreamServer} in its own JVM, and a client of its admin API. */
final class Upstream implements AutoCloseable {

	private final Process process;

	private final int port;

	private final int adminPort;

	/** Tag to close time (nanoTime) of every connection closed, collected from {@code /stats}. */
	/** A stream's upstream request: when it was received and when its connection closed (nanoTime). */
	record Close(long requestedNanos, long closedNanos) {
	}

	private final Map<String, Close> closes = new HashMap<>();

	private Upstream(Process process, int port, int adminPort) {
		this.process = process;
		this.port = port;
		this.adminPort = adminPort;
	}

	static Upstream start(Path log) {
		// A fixed port (upstream.port=9090) lets another gateway be put in front of it as the baseline.
		int port = Integer.getInteger("bench.upstream.port", 0);
		port = (port != 0) ? port : ScalpelProcess.freePort();
		int adminPort = ScalpelProcess.freePort();
		try {
			List<String> command = new ArrayList<>(
					List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xms1g", "-Xmx1g", "-XX:+AlwaysPreTouch", "-XX:+UseG1GC"));
			if (Boolean.getBoolean("bench.jfr")) {
				command.add("-XX:StartFlightRecording=filename=" + log.resolveSibling("upstream.jfr")
						+ ",settings=profile,dumponexit=true");
			}
			command.addAll(List.of("-cp", System.getProperty("java.class.path"), UpstreamServer.class.getName(),
					Integer.toString(port), Integer.toString(adminPort)));
			Process process = new ProcessBuilder(Cpus.on(Cpus.bench(), command))
				.redirectErrorStream(true)
				.redirectOutput(log.toFile())
				.start();
			Upstream upstream = new Upstream(process, port, adminPort);
			long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
			while (System.nanoTime() < deadline) {
				try {
					upstream.stats();
					return upstream;
				}
				catch (UncheckedIOException notYet) {
					ScalpelProcess.sleep(100);
				}
			}
			throw new IllegalStateException("The upstream server did not start; see " + log);
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

	String baseUrl() {
		return "http://127.0.0.1:" + this.port + "/v1";
	}

	/** Sets the reply of every request from now on. */
	void script(int tokens, Duration interval, int hangAfter) {
		Http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + this.adminPort + "/script?tokens=" + tokens
				+ "&interval=" + interval.toMillis() + "ms&hang-after=" + hangAfter))
			.POST(HttpRequest.BodyPublishers.noBody())
			.build());
	}

	/** The server's counts; collects the closes it recorded since the last call. */
	JsonNode stats() {
		JsonNode stats = JsonMapper.shared()
			.readTree(Http.get("http://127.0.0.1:" + this.adminPort + "/stats").body());
		for (JsonNode close : stats.path("closes")) {
			this.closes.put(close.path(0).asString(), new Close(close.path(3).asLong(), close.path(1).asLong()));
		}
		return stats;
	}

	int openConnections() {
		return stats().path("open_connections").asInt();
	}

	/** When the request of the stream with this tag came and its connection closed, or null if not seen. */
	Close close(String tag) {
		return this.closes.get(tag);
	}

	@Override
	public void close() {
		ScalpelProcess.stop(this.process, Duration.ofSeconds(10));
	}

}
