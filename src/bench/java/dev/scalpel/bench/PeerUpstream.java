package dev.scalpel.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/** The {@link PeerUpstreamServer} in its own JVM on the bench's core(s), and a client of its admin API. */
final class PeerUpstream implements AutoCloseable {

	private final Process process;

	private final int port;

	private final int adminPort;

	private PeerUpstream(Process process, int port, int adminPort) {
		this.process = process;
		this.port = port;
		this.adminPort = adminPort;
	}

	static PeerUpstream start(Path log) {
		int port = ScalpelProcess.freePort();
		int adminPort = ScalpelProcess.freePort();
		List<String> command = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xms1g",
				"-Xmx1g", "-XX:+AlwaysPreTouch", "-XX:+UseG1GC", "-cp", System.getProperty("java.class.path"),
				PeerUpstreamServer.class.getName(), Integer.toString(port), Integer.toString(adminPort));
		try {
			Process process = new ProcessBuilder(Cpus.on(Cpus.bench(), command)).redirectErrorStream(true)
				.redirectOutput(log.toFile())
				.start();
			PeerUpstream upstream = new PeerUpstream(process, port, adminPort);
			long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
			while (System.nanoTime() < deadline) {
				try {
					upstream.replies();
					return upstream;
				}
				catch (UncheckedIOException notYet) {
					ScalpelProcess.sleep(100);
				}
			}
			throw new IllegalStateException("The peer upstream did not start; see " + log);
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

	/** Its OpenAI base URL: {@code http://127.0.0.1:<port>/v1}. */
	String baseUrl() {
		return origin() + "/v1";
	}

	/** {@code http://127.0.0.1:<port>}, for a proxy that routes every path to it. */
	String origin() {
		return "http://127.0.0.1:" + this.port;
	}

	int port() {
		return this.port;
	}

	/** Sets the reply of every request from now on: {@code tokens}, the first after {@code first}, then one every {@code interval}. */
	void shape(int tokens, Duration first, Duration interval) {
		Http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + this.adminPort + "/shape?tokens=" + tokens
				+ "&first=" + first.toMillis() + "ms&interval=" + interval.toMillis() + "ms"))
			.POST(HttpRequest.BodyPublishers.noBody())
			.build());
	}

	/** How many replies it has begun. */
	long replies() {
		String body = Http.get("http://127.0.0.1:" + this.adminPort + "/stats").body();
		return Long.parseLong(body.replaceAll("\\D", ""));
	}

	@Override
	public void close() {
		ScalpelProcess.stop(this.process, Duration.ofSeconds(10));
	}

}
