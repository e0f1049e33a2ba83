package dev.scalpel.bench;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.util.concurrent.ScheduledFuture;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.netty.DisposableServer;
import reactor.netty.http.server.HttpServer;
import reactor.netty.http.server.HttpServerRequest;
import reactor.netty.http.server.HttpServerResponse;
import reactor.netty.resources.LoopResources;

/**
 * A fast OpenAI-compatible streaming upstream for the {@code peers} scenario, runnable on its own:
 * {@link UpstreamServer} builds and writes every token as it goes, and cannot answer fast enough to
 * be the floor that proxies are measured against. This one answers {@code POST} on any path ending
 * in {@code /chat/completions} with {@code tokens} {@code chat.completion.chunk} events ({@code "w1 "},
 * {@code "w2 "}, ...), a finish chunk, a usage chunk when the request asked for it and
 * {@code data: [DONE]}: the frames of the test upstream ({@code dev.scalpel.upstream.fake}), but for
 * the id, which is the same for every reply of a shape. Each reply's bytes are encoded once per
 * shape, model and usage, and written chunked: all at once when neither delay is set, else the
 * opening frame at once and each token after its delay (any frames due at the same time in one
 * write).
 *
 * <pre>
 * java -cp ... dev.scalpel.bench.PeerUpstreamServer [port] [admin-port]
 * </pre>
 *
 * Admin API on {@code admin-port}: {@code POST /shape?tokens=100&first=0ms&interval=0ms} sets the
 * reply of every request from now on; {@code GET /stats} answers {@code {"replies":n}}.
 */
public final class PeerUpstreamServer {

	/** The reply of every request: how many tokens, the delay before the first, and between the others. */
	record Shape(int tokens, Duration first, Duration interval) {
	}

	/** What a reply's bytes depend on besides the shape. */
	private record Key(Shape shape, String model, boolean usage) {
	}

	/** One write of a reply: its bytes, after its delay from the write before. */
	private record Write(Duration delay, byte[] bytes) {
	}

	private final Map<Key, List<Write>> encoded = new ConcurrentHashMap<>();

	private final AtomicLong replies = new AtomicLong();

	private volatile Shape shape = new Shape(100, Duration.ZERO, Duration.ZERO);

	private final DisposableServer server;

	private final DisposableServer admin;

	private PeerUpstreamServer(int port, int adminPort) {
		// One event loop: the upstream shares the bench's core with the load generator.
		LoopResources loops = LoopResources.create("peer-upstream", 1, true);
		this.server = HttpServer.create()
			.host("127.0.0.1")
			.port(port)
			.runOn(loops)
			.handle(this::handle)
			.bindNow(Duration.ofSeconds(10));
		this.admin = HttpServer.create()
			.host("127.0.0.1")
			.port(adminPort)
			.runOn(LoopResources.create("peer-upstream-admin", 1, true))
			.route(routes -> routes.post("/shape", this::shape).get("/stats", this::stats))
			.bindNow(Duration.ofSeconds(10));
	}

	public static void main(String[] args) throws InterruptedException {
		int port = (args.length > 0) ? Integer.parseInt(args[0]) : 9092;
		int adminPort = (args.length > 1) ? Integer.parseInt(args[1]) : 9093;
		PeerUpstreamServer server = new PeerUpstreamServer(port, adminPort);
		System.out.println("peer upstream ready on http://127.0.0.1:" + server.server.port() + "/v1, admin on http://127.0.0.1:"
				+ server.admin.port());
		new CountDownLatch(1).await();
	}

	private Mono<Void> handle(HttpServerRequest request, HttpServerResponse response) {
		String path = request.path();
		if (request.method().name().equals("POST") && path.endsWith("chat/completions")) {
			return request.receive().aggregate().asString(StandardCharsets.UTF_8).defaultIfEmpty("").flatMap(body -> {
				EventLoop loop = eventLoop(request);
				List<Write> writes = this.encoded.computeIfAbsent(
						new Key(this.shape, model(body), body.replace(" ", "").contains("\"include_usage\":true")),
						PeerUpstreamServer::encode);
				this.replies.incrementAndGet();
				response.status(200)
					.header(HttpHeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8")
					.header(HttpHeaderNames.CACHE_CONTROL, "no-cache")
					.header(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
				if (writes.size() == 1) {
					// A Flux, not a Mono: Reactor Netty would send a Mono's one buffer with a content-length.
					return response.send(Flux.just(Unpooled.wrappedBuffer(writes.get(0).bytes())), buffer -> true).then();
				}
				Flux<ByteBuf> paced = Flux.fromIterable(writes)
					.concatMap(write -> write.delay().isZero() ? Mono.just(Unpooled.wrappedBuffer(write.bytes()))
							: later(loop, write));
				return response.send(paced, buffer -> true).then();
			});
		}
		byte[] notFound = "{\"error\":{\"message\":\"Invalid URL\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}"
			.getBytes(StandardCharsets.UTF_8);
		return request.receive()
			.then(response.status(404)
				.header(HttpHeaderNames.CONTENT_TYPE, "application/json")
				.sendByteArray(Mono.just(notFound))
				.then());
	}

	private static EventLoop eventLoop(HttpServerRequest request) {
		EventLoop[] loop = new EventLoop[1];
		request.withConnection(connection -> loop[0] = connection.channel().eventLoop());
		return loop[0];
	}

	/**
	 * The write after its delay, timed on the connection's own event loop (as the test upstream does:
	 * {@code Mono.delay} would wake another thread for every token).
	 */
	private static Mono<ByteBuf> later(EventLoop loop, Write write) {
		return Mono.create(sink -> {
			ScheduledFuture<?> timer = loop.schedule(() -> sink.success(Unpooled.wrappedBuffer(write.bytes())),
					write.delay().toNanos(), TimeUnit.NANOSECONDS);
			sink.onCancel(() -> timer.cancel(false));
		});
	}

	/** The request's {@code model}, without a JSON parser (the requests are the bench's and Scalpel's). */
	static String model(String body) {
		int at = body.indexOf("\"model\"");
		if (at < 0) {
			return "";
		}
		int start = body.indexOf('"', body.indexOf(':', at) + 1) + 1;
		int end = body.indexOf('"', start);
		return (start > 0 && end > start) ? body.substring(start, end) : "";
	}

	/** A reply's frames as the test upstream writes them, grouped into the writes its delays make. */
	static List<Write> encode(Key key) {
		String head = "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":"
				+ System.currentTimeMillis() / 1000 + ",\"model\":\"" + key.model() + "\",";
		String tail = key.usage() ? ",\"usage\":null}\n\n" : "}\n\n";
		List<Write> writes = new ArrayList<>();
		ByteArrayOutputStream pending = new ByteArrayOutputStream();
		Duration pendingDelay = Duration.ZERO;
		append(pending, head + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]" + tail);
		for (int i = 1; i <= key.shape().tokens(); i++) {
			Duration delay = (i == 1) ? key.shape().first() : key.shape().interval();
			if (!delay.isZero()) {
				writes.add(new Write(pendingDelay, pending.toByteArray()));
				pending.reset();
				pendingDelay = delay;
			}
			append(pending, head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"w" + i + " \"},\"finish_reason\":null}]" + tail);
		}
		append(pending, head + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]" + tail);
		if (key.usage()) {
			int tokens = key.shape().tokens();
			append(pending, head + "\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":" + tokens
					+ ",\"total_tokens\":" + (7 + tokens) + "}}\n\n");
		}
		append(pending, "data: [DONE]\n\n");
		writes.add(new Write(pendingDelay, pending.toByteArray()));
		return List.copyOf(writes);
	}

	private static void append(ByteArrayOutputStream bytes, String frame) {
		bytes.writeBytes(frame.getBytes(StandardCharsets.UTF_8));
	}

	private Mono<Void> shape(HttpServerRequest request, HttpServerResponse response) {
		Map<String, List<String>> query = new QueryStringDecoder(request.uri()).parameters();
		this.shape = new Shape(Integer.parseInt(param(query, "tokens", "100")),
				UpstreamServer.duration(param(query, "first", "0ms")),
				UpstreamServer.duration(param(query, "interval", "0ms")));
		this.encoded.clear();
		return response.status(204).send();
	}

	private Mono<Void> stats(HttpServerRequest request, HttpServerResponse response) {
		return response.status(200)
			.header(HttpHeaderNames.CONTENT_TYPE, "application/json")
			.sendString(Mono.just("{\"replies\":" + this.replies.get() + "}"))
			.then();
	}

	private static String param(Map<String, List<String>> query, String name, String otherwise) {
		List<String> values = query.get(name);
		return (values == null || values.isEmpty()) ? otherwise : values.get(0);
	}

}
