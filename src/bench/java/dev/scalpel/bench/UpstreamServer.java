package dev.scalpel.bench;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

import io.netty.handler.codec.http.QueryStringDecoder;
import reactor.core.publisher.Mono;
import reactor.netty.DisposableServer;
import reactor.netty.http.server.HttpServer;
import reactor.netty.http.server.HttpServerRequest;
import reactor.netty.http.server.HttpServerResponse;
import tools.jackson.databind.json.JsonMapper;

import dev.scalpel.upstream.fake.Script;
import dev.scalpel.upstream.fake.TestUpstream;
import dev.scalpel.upstream.fake.UpstreamConnection;

/**
 * The test upstream, runnable on its own: an OpenAI-compatible (and Anthropic) streaming server at a
 * configurable pace and length that records, for every connection, when the client closed it.
 *
 * <pre>
 * java -cp ... dev.scalpel.bench.UpstreamServer [port] [admin-port]
 * </pre>
 *
 * The API is on {@code port} (default 9090): {@code POST /v1/chat/completions}, {@code POST /v1/messages}.
 * A small admin API is on {@code admin-port} (default 9091):
 * <ul>
 * <li>{@code POST /script?tokens=100&interval=50ms&first=0ms&hang-after=-1} sets the reply of every
 * request from now on ({@code hang-after=n}: after n tokens, send nothing more and keep the connection);
 * <li>{@code GET /stats}: open connections, connections accepted and closed, and the closes recorded
 * since the last call to {@code /stats}, each as {@code [tag, closed_nanos, closed_by_client]} where the
 * tag is the last message's content of the connection's newest request (a load generator's stream tag)
 * and the time is {@code System.nanoTime()}, comparable across processes on one Linux machine
 * (CLOCK_MONOTONIC).
 * </ul>
 */
public final class UpstreamServer {

	private static final JsonMapper JSON = JsonMapper.shared();

	private final ConcurrentLinkedQueue<Object[]> closes = new ConcurrentLinkedQueue<>();

	private final AtomicLong closed = new AtomicLong();

	private final AtomicLong closedByClient = new AtomicLong();

	private final TestUpstream upstream;

	private final DisposableServer admin;

	private UpstreamServer(int port, int adminPort) {
		this.upstream = TestUpstream.startUnrecorded(port, this::closed);
		this.upstream.defaultScript(Script.words(100).interval(Duration.ofMillis(50)));
		this.admin = HttpServer.create().host("127.0.0.1").port(adminPort).route(routes -> routes
			.post("/script", this::script)
			.get("/stats", this::stats)).bindNow(Duration.ofSeconds(10));
	}

	public static void main(String[] args) throws InterruptedException {
		int port = (args.length > 0) ? Integer.parseInt(args[0]) : 9090;
		int adminPort = (args.length > 1) ? Integer.parseInt(args[1]) : 9091;
		UpstreamServer server = new UpstreamServer(port, adminPort);
		System.out.println("upstream ready on " + server.upstream.baseUrl() + ", admin on http://127.0.0.1:"
				+ server.admin.port());
		new CountDownLatch(1).await();
	}

	private void closed(UpstreamConnection connection) {
		this.closed.incrementAndGet();
		if (connection.closedByClient()) {
			this.closedByClient.incrementAndGet();
		}
		if (connection.tag() != null) {
			this.closes.add(new Object[] { connection.tag(), connection.closedNanos(), connection.closedByClient(),
					connection.taggedNanos() });
		}
	}

	private Mono<Void> script(HttpServerRequest request, HttpServerResponse response) {
		Map<String, List<String>> query = new QueryStringDecoder(request.uri()).parameters();
		Script script = Script.words(Integer.parseInt(param(query, "tokens", "100")))
			.interval(duration(param(query, "interval", "50ms")))
			.firstTokenDelay(duration(param(query, "first", "0ms")));
		int hangAfter = Integer.parseInt(param(query, "hang-after", "-1"));
		if (hangAfter >= 0) {
			script = script.hangAfter(hangAfter);
		}
		this.upstream.defaultScript(script);
		return response.status(204).send();
	}

	private Mono<Void> stats(HttpServerRequest request, HttpServerResponse response) {
		List<Object[]> drained = new ArrayList<>();
		for (Object[] close = this.closes.poll(); close != null; close = this.closes.poll()) {
			drained.add(close);
		}
		Map<String, Object> stats = new LinkedHashMap<>();
		stats.put("open_connections", this.upstream.openConnections().size());
		stats.put("accepted", this.closed.get() + this.upstream.openConnections().size());
		stats.put("closed", this.closed.get());
		stats.put("closed_by_client", this.closedByClient.get());
		stats.put("closes", drained);
		byte[] body = JSON.writeValueAsBytes(stats);
		return response.status(200)
			.header("content-type", "application/json")
			.sendByteArray(Mono.just(body))
			.then();
	}

	private static String param(Map<String, List<String>> query, String name, String otherwise) {
		List<String> values = query.get(name);
		return (values == null || values.isEmpty()) ? otherwise : values.get(0);
	}

	static Duration duration(String text) {
		String value = text.strip();
		if (value.endsWith("ms")) {
			return Duration.ofMillis(Long.parseLong(value.substring(0, value.length() - 2)));
		}
		if (value.endsWith("s")) {
			return Duration.ofSeconds(Long.parseLong(value.substring(0, value.length() - 1)));
		}
		return Duration.ofMillis(Long.parseLong(value));
	}

}
