package dev.scalpel.upstream.fake;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.LinkedTransferQueue;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPromise;
import io.netty.channel.EventLoop;
import io.netty.util.AttributeKey;
import org.jspecify.annotations.Nullable;
import org.reactivestreams.Publisher;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.netty.DisposableServer;
import reactor.netty.http.server.HttpServer;
import reactor.netty.http.server.HttpServerRequest;
import reactor.netty.http.server.HttpServerResponse;
import reactor.netty.resources.LoopResources;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import dev.scalpel.upstream.fake.WireFormat.Reply;

/**
 * A real HTTP/1.1 server on {@code 127.0.0.1} that plays a model provider for tests: it streams
 * replies in OpenAI's ({@code POST /v1/chat/completions}) and Anthropic's ({@code POST /v1/messages})
 * Server-Sent Events formats, as told by {@link Script scripts}, and records every TCP connection:
 * when it opened, when it closed and which side closed it. A client closing its socket is seen at
 * once, even while the server waits between two tokens, so tests can prove that a cancelled
 * generation closes its upstream connection.
 * <p>
 * Runs on its own event loops, not shared with the client under test. Tokens are paced with
 * Reactor timers, so thousands of streams can be open at once. Any other path answers 404.
 *
 * <pre class="code">
 * try (TestUpstream upstream = TestUpstream.start()) {
 *     upstream.enqueue(Script.words(100).interval(Duration.ofMillis(50)));
 *     // point the client at upstream.baseUrl(), start a generation, then cancel it at time t
 *     upstream.awaitRequest(Duration.ofSeconds(2)).connection().awaitClosed(Duration.ofSeconds(1), t);
 * }
 * </pre>
 */
public final class TestUpstream implements AutoCloseable {

	/** The script used when the queue is empty, until {@link #defaultScript} changes it. */
	public static final Script DEFAULT_SCRIPT = Script.tokens("Hello", " world");

	private static final AttributeKey<UpstreamConnection> CONNECTION = AttributeKey.valueOf("testUpstream.connection");

	private static final int ONE_MIB = 1024 * 1024;

	private static final JsonMapper JSON = JsonMapper.shared();

	private final Queue<Script> scripts = new ConcurrentLinkedQueue<>();

	private volatile Script defaultScript = DEFAULT_SCRIPT;

	private final Queue<UpstreamConnection> connections = new ConcurrentLinkedQueue<>();

	private final Queue<ReceivedRequest> requests = new ConcurrentLinkedQueue<>();

	private final LinkedTransferQueue<ReceivedRequest> untaken = new LinkedTransferQueue<>();

	private final AtomicInteger connectionIds = new AtomicInteger();

	private final AtomicInteger requestIds = new AtomicInteger();

	private final AtomicBoolean closed = new AtomicBoolean();

	private final LoopResources loops;

	private final DisposableServer server;

	private final boolean record;

	private final @Nullable Consumer<UpstreamConnection> onClose;

	private TestUpstream(int port, boolean record, @Nullable Consumer<UpstreamConnection> onClose) {
		this.record = record;
		this.onClose = onClose;
		this.loops = LoopResources.create("test-upstream", 1, Math.max(2, Runtime.getRuntime().availableProcessors()),
				true);
		this.server = HttpServer.create()
			.host("127.0.0.1")
			.port(port)
			.runOn(this.loops)
			.doOnChannelInit((observer, channel, remoteAddress) -> accepted(channel))
			.handle(this::handle)
			.bindNow(Duration.ofSeconds(10));
	}

	/** Starts a server on a free port. */
	public static TestUpstream start() {
		return new TestUpstream(0, true, null);
	}

	/**
	 * Starts a server for long runs (the benchmark): it keeps no requests and forgets connections once
	 * closed, telling {@code onClose} of each instead ({@link #requests()} and {@link #awaitRequest}
	 * then see nothing).
	 */
	public static TestUpstream startUnrecorded(int port, Consumer<UpstreamConnection> onClose) {
		return new TestUpstream(port, false, onClose);
	}

	/** The port the server listens on. */
	public int port() {
		return this.server.port();
	}

	/** The base URL of the provider APIs: {@code http://127.0.0.1:<port>/v1}. */
	public String baseUrl() {
		return "http://127.0.0.1:" + port() + "/v1";
	}

	/** Adds a script for a coming request; scripts are used first in, first out, one per request. */
	public void enqueue(Script script) {
		this.scripts.add(script);
	}

	/** Sets the script used when the queue is empty (initially {@link #DEFAULT_SCRIPT}). */
	public void defaultScript(Script script) {
		this.defaultScript = script;
	}

	/** Every connection accepted (since the last {@link #reset}, plus those still open), in accept order. */
	public List<UpstreamConnection> connections() {
		return List.copyOf(this.connections);
	}

	/** The connections open right now, in accept order. */
	public List<UpstreamConnection> openConnections() {
		return this.connections.stream().filter(UpstreamConnection::isOpen).toList();
	}

	/** Every request received (since the last {@link #reset}), in order. */
	public List<ReceivedRequest> requests() {
		return List.copyOf(this.requests);
	}

	/**
	 * The next request not yet taken by this method, waiting for it if needed.
	 * @throws AssertionError if none arrives within the timeout
	 */
	public ReceivedRequest awaitRequest(Duration timeout) {
		try {
			ReceivedRequest request = this.untaken.poll(timeout.toNanos(), TimeUnit.NANOSECONDS);
			if (request == null) {
				throw new AssertionError("No request to the test upstream within " + timeout);
			}
			return request;
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
			throw new AssertionError(ex);
		}
	}

	/**
	 * Waits until every connection is closed.
	 * @throws AssertionError listing the connections still open after the timeout
	 */
	public void awaitNoOpenConnections(Duration timeout) {
		long deadline = System.nanoTime() + timeout.toNanos();
		for (List<UpstreamConnection> open = openConnections(); !open.isEmpty(); open = openConnections()) {
			long left = deadline - System.nanoTime();
			if (left <= 0) {
				throw new AssertionError(
						open.size() + " upstream connection(s) still open after " + timeout + ": " + open);
			}
			try {
				open.get(0).awaitClosed(Duration.ofNanos(left), 0);
			}
			catch (AssertionError ex) {
				// the loop reports all of them
			}
		}
	}

	/**
	 * Forgets the scripts (back to {@link #DEFAULT_SCRIPT}), the requests, requests not yet taken by
	 * {@link #awaitRequest} and closed connections. Open connections stay open and listed.
	 */
	public void reset() {
		this.scripts.clear();
		this.defaultScript = DEFAULT_SCRIPT;
		this.requests.clear();
		this.untaken.clear();
		this.connections.removeIf((connection) -> !connection.isOpen());
	}

	/**
	 * For the end of a test class: waits until every connection is closed (failing if one is left
	 * open), then stops the server either way.
	 */
	public void closeWhenAllClosed(Duration timeout) {
		try {
			awaitNoOpenConnections(timeout);
		}
		finally {
			close();
		}
	}

	/** Closes every connection (a server-side close) and stops the server and its event loops. */
	@Override
	public void close() {
		if (this.closed.getAndSet(true)) {
			return;
		}
		for (UpstreamConnection connection : openConnections()) {
			connection.closingByServer();
			connection.channel().close();
		}
		this.server.disposeNow(Duration.ofSeconds(5));
		this.loops.disposeLater(Duration.ZERO, Duration.ofSeconds(5)).block(Duration.ofSeconds(10));
	}

	/** A new connection, on its event loop. */
	private void accepted(Channel channel) {
		UpstreamConnection connection = new UpstreamConnection(this.connectionIds.incrementAndGet(), channel);
		channel.attr(CONNECTION).set(connection);
		channel.pipeline().addFirst("testUpstream.closeWatch", new CloseWatch(connection));
		channel.closeFuture().addListener((future) -> {
			connection.closed();
			if (this.onClose != null) {
				this.onClose.accept(connection);
			}
			if (!this.record) {
				this.connections.remove(connection);
			}
		});
		this.connections.add(connection);
	}

	private Publisher<Void> handle(HttpServerRequest request, HttpServerResponse response) {
		UpstreamConnection[] connection = new UpstreamConnection[1];
		request.withConnection((c) -> connection[0] = c.channel().attr(CONNECTION).get());
		return request.receive()
			.aggregate()
			.asString(StandardCharsets.UTF_8)
			.defaultIfEmpty("")
			.flatMap((body) -> {
				ReceivedRequest received = received(connection[0], request, body);
				WireFormat format = WireFormat.forPath(received.path());
				if (format == null || !"POST".equals(received.method())) {
					return plain(response, 404, List.of(), WireFormat.OPENAI.errorBody("invalid_request_error",
							"Invalid URL (" + received.method() + " " + received.path() + ")"));
				}
				if (received.json() == null) {
					return plain(response, 400, List.of(),
							format.errorBody("invalid_request_error", "The request body is not valid JSON"));
				}
				Script script = nextScript();
				if (script.resetBeforeResponse) {
					reset(connection[0]);
					return Mono.never();
				}
				Reply reply = Reply.of(script, this.requestIds.incrementAndGet(), received.json());
				Mono<Long> headersDelay = script.headersDelay.isZero() ? Mono.empty() : Mono.delay(script.headersDelay);
				return headersDelay.then(Mono.defer(() -> (script.status != 0)
						? plain(response, script.status, script.headers, (script.statusBody != null) ? script.statusBody
								: format.errorBody(script.errorType, script.errorMessage))
						: stream(response, connection[0], format, reply)));
			})
			.takeUntilOther(connection[0].onClose());
	}

	private ReceivedRequest received(UpstreamConnection connection, HttpServerRequest request, String body) {
		Map<String, String> headers = new LinkedHashMap<>();
		request.requestHeaders()
			.forEach((header) -> headers.merge(header.getKey().toLowerCase(Locale.ROOT), header.getValue(),
					(a, b) -> a + ", " + b));
		String uri = request.uri();
		String path = (uri.indexOf('?') >= 0) ? uri.substring(0, uri.indexOf('?')) : uri;
		ReceivedRequest received = new ReceivedRequest(connection, request.method().name(), path,
				Map.copyOf(headers), body, parse(body), System.nanoTime());
		JsonNode messages = (received.json() != null) ? received.json().path("messages") : null;
		if (messages != null && messages.isArray() && !messages.isEmpty()) {
			connection.tag(messages.get(messages.size() - 1).path("content").asString(null), received.receivedNanos());
		}
		if (this.record) {
			this.requests.add(received);
			this.untaken.add(received);
		}
		return received;
	}

	private static @Nullable JsonNode parse(String body) {
		try {
			return body.isBlank() ? null : JSON.readTree(body);
		}
		catch (JacksonException ex) {
			return null;
		}
	}

	private Script nextScript() {
		Script script = this.scripts.poll();
		return (script != null) ? script : this.defaultScript;
	}

	private static Mono<Void> plain(HttpServerResponse response, int status, List<Map.Entry<String, String>> headers,
			String body) {
		byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
		response.status(status)
			.header("content-type", "application/json")
			.header("content-length", String.valueOf(bytes.length));
		headers.forEach((header) -> response.addHeader(header.getKey(), header.getValue()));
		return response.sendByteArray(Mono.just(bytes)).then();
	}

	private static Mono<Void> stream(HttpServerResponse response, UpstreamConnection connection, WireFormat format,
			Reply reply) {
		Script script = reply.script();
		response.status(200)
			.header("content-type", "text/event-stream; charset=utf-8")
			.header("cache-control", "no-cache");
		script.headers.forEach((header) -> response.addHeader(header.getKey(), header.getValue()));
		List<String> tokens = script.sentTokens();
		EventLoop loop = connection.channel().eventLoop();
		Flux<String> paced = Flux.range(0, tokens.size()).concatMap((i) -> {
			String frame = format.token(reply, tokens.get(i));
			Duration delay = (i == 0) ? script.firstTokenDelay : script.interval;
			return delay.isZero() ? Mono.just(frame) : later(loop, delay, frame);
		});
		Flux<String> frames = Flux.fromIterable(format.opening(reply))
			.concatWith(paced)
			.concatWith(ending(connection, format, reply));
		return response.send(frames.map((frame) -> Unpooled.wrappedBuffer(frame.getBytes(StandardCharsets.UTF_8))),
				(ByteBuf buffer) -> true).then();
	}

	/**
	 * The frame after the delay, timed on the connection's own event loop: a timer there costs a
	 * queue entry, while {@code Mono.delay} would wake a parallel-scheduler thread and hand each frame
	 * back to the event loop (twice the context switches per token, which made the bench's direct
	 * baseline slower than the server it stands for).
	 */
	private static Mono<String> later(EventLoop loop, Duration delay, String frame) {
		return Mono.create((sink) -> {
			ScheduledFuture<?> timer = loop.schedule(() -> sink.success(frame), delay.toNanos(), TimeUnit.NANOSECONDS);
			sink.onCancel(() -> timer.cancel(false));
		});
	}

	private static Flux<String> ending(UpstreamConnection connection, WireFormat format, Reply reply) {
		Script script = reply.script();
		return switch (script.ending) {
			case FINISH -> Flux.fromIterable(format.closing(reply));
			case END_WITHOUT_FINISH -> Flux.empty();
			case HANG -> Flux.never();
			case MALFORMED_JSON -> Flux.just(format.malformedEvent()).concatWith(Flux.never());
			case OVERSIZED_LINE -> Flux.just("data: " + "x".repeat(ONE_MIB - 6)).concatWith(Flux.never());
			case ERROR_EVENT -> Flux.just(format.errorEvent(script.errorType, script.errorMessage));
			case RESET -> Mono.<String>fromRunnable(() -> reset(connection)).concatWith(Flux.never());
		};
	}

	/** Aborts the connection with a TCP reset, after the writes already queued on its event loop. */
	private static void reset(UpstreamConnection connection) {
		Channel channel = connection.channel();
		channel.eventLoop().execute(() -> {
			connection.closingByServer();
			channel.config().setOption(ChannelOption.SO_LINGER, 0);
			channel.close();
		});
	}

	/**
	 * Sees the closes that go through the pipeline, i.e. those the server decides on (Netty closes a
	 * connection the peer closed or reset without going through the pipeline). A close after a read
	 * error (a reset by the peer) still counts as the client's.
	 */
	private static final class CloseWatch extends ChannelDuplexHandler {

		private final UpstreamConnection connection;

		private boolean peerFailed;

		CloseWatch(UpstreamConnection connection) {
			this.connection = connection;
		}

		@Override
		public void exceptionCaught(ChannelHandlerContext context, Throwable cause) {
			this.peerFailed |= cause instanceof IOException;
			context.fireExceptionCaught(cause);
		}

		@Override
		public void close(ChannelHandlerContext context, ChannelPromise promise) {
			if (!this.peerFailed) {
				this.connection.closingByServer();
			}
			context.close(promise);
		}

	}

}
