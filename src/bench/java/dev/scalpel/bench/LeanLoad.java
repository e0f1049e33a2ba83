package dev.scalpel.bench;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.ByteProcessor;
import io.netty.util.concurrent.DefaultThreadFactory;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.MonoSink;

import dev.scalpel.bench.LoadGenerator.Api;

/**
 * The {@code peers} scenario's client: {@link LoadGenerator}'s requests (Scalpel's native API or any
 * OpenAI-compatible URL), on plain Netty over kept-alive HTTP/1.1 connections: each request written
 * from bytes encoded once, each response read byte by byte as it comes (its status, the headers that
 * frame its body, its chunks) and scanned for the frames that matter (a token event, the end),
 * without an object per chunk or a String per frame. The proxies it measures pass 100-token replies
 * on faster than a Reactor Netty client parses them (with {@link LoadGenerator}'s client, the
 * client took three times the upstream's CPU per reply on the core they share, and limited nginx to
 * half its core), and the client must not be what limits them.
 */
final class LeanLoad implements AutoCloseable {

	/** What one stream saw: its status, how many token events, whether it ended as it should, when (nanoTime). */
	record Result(int status, int tokens, boolean completed, long startedNanos, long firstTokenNanos, long endedNanos,
			String failure) {
	}

	private final Api api;

	private final byte[] request;

	private final EventLoopGroup loops;

	private final Bootstrap bootstrap;

	/** Connections whose last reply ended, kept alive for the next request. */
	private final Queue<Channel> idle = new ConcurrentLinkedQueue<>();

	/** Token events seen so far, counted as they come. */
	final LongAdder tokens = new LongAdder();

	/** Streams ended so far, completed as they should or not. */
	final LongAdder ended = new LongAdder();

	final LongAdder failed = new LongAdder();

	/** Each completed stream's time from its request to its end, in microseconds. */
	final Recorder responseTimes = new Recorder(3);

	private volatile boolean looping;

	LeanLoad(String baseUrl, Api api, String model) {
		this.api = api;
		URI base = URI.create(baseUrl);
		String path = base.getPath().replaceAll("/$", "") + ((api == Api.NATIVE) ? "/v1/streams" : "/chat/completions");
		String messages = "[{\"role\":\"user\",\"content\":\"peers\"}]";
		byte[] body = ((api == Api.NATIVE) ? "{\"model\":\"" + model + "\",\"messages\":" + messages + "}"
				: "{\"model\":\"" + model + "\",\"stream\":true,\"messages\":" + messages + "}")
			.getBytes(StandardCharsets.UTF_8);
		String head = "POST " + path + " HTTP/1.1\r\nHost: " + base.getHost() + ":" + base.getPort()
				+ "\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: " + body.length
				+ "\r\n\r\n";
		byte[] headBytes = head.getBytes(StandardCharsets.US_ASCII);
		this.request = new byte[headBytes.length + body.length];
		System.arraycopy(headBytes, 0, this.request, 0, headBytes.length);
		System.arraycopy(body, 0, this.request, headBytes.length, body.length);
		int threads = Integer.getInteger("bench.peers.client.loops", 1);
		DefaultThreadFactory named = new DefaultThreadFactory("leanload", true);
		boolean epoll = Epoll.isAvailable();
		this.loops = new MultiThreadIoEventLoopGroup(threads, named,
				epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory());
		this.bootstrap = new Bootstrap().group(this.loops)
			.channel(epoll ? EpollSocketChannel.class : NioSocketChannel.class)
			.option(ChannelOption.TCP_NODELAY, true)
			.option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 10_000)
			.remoteAddress(base.getHost(), base.getPort())
			.handler(new ChannelInitializer<Channel>() {

				@Override
				protected void initChannel(Channel channel) {
					channel.pipeline().addLast(new Exchange(channel));
				}

			});
	}

	/** Runs one stream to its end, on a kept-alive connection when one is idle, else on a new one. */
	Mono<Result> stream() {
		return Mono.create(sink -> {
			Channel channel;
			while ((channel = this.idle.poll()) != null && !channel.isActive()) {
				// closed by the server while idle
			}
			if (channel != null) {
				send(channel, sink);
				return;
			}
			ChannelFuture connecting = this.bootstrap.connect();
			connecting.addListener(connected -> {
				if (connected.isSuccess()) {
					send(connecting.channel(), sink);
				}
				else {
					long now = System.nanoTime();
					sink.success(finished(0, null, now, connected.cause()));
				}
			});
		});
	}

	private void send(Channel channel, MonoSink<Result> sink) {
		Exchange exchange = channel.pipeline().get(Exchange.class);
		if (channel.eventLoop().inEventLoop()) {
			exchange.begin(sink);
		}
		else {
			channel.eventLoop().execute(() -> exchange.begin(sink));
		}
	}

	private Result finished(int status, Scan scan, long started, Throwable failure) {
		long now = System.nanoTime();
		boolean completed = failure == null && status == 200 && scan != null && scan.completed;
		this.ended.increment();
		if (completed) {
			this.responseTimes.recordValue(LoadGenerator.micros(now - started));
		}
		else {
			this.failed.increment();
		}
		int count = (scan != null) ? scan.count : 0;
		return new Result(status, count, completed, started, (scan != null) ? scan.firstTokenNanos : 0, now,
				(failure != null) ? failure.getClass().getSimpleName() + ": " + failure.getMessage()
						: completed ? null
								: "status " + status + ", " + ((scan != null && scan.ended) ? "ended " : "no end ") + count
										+ " tokens");
	}

	/**
	 * Keeps {@code concurrency} streams running, each started as one ends, until {@link #stopLoop}:
	 * figures are read from the counters and {@link #responseTimes} meanwhile, between two instants.
	 * The returned Mono, cached, runs the loop once subscribed and gives how many streams ran.
	 */
	Mono<Long> loop(int concurrency) {
		this.looping = true;
		return Flux.<Long, Long>generate(() -> 0L, (n, sink) -> {
			if (this.looping) {
				sink.next(n);
			}
			else {
				sink.complete();
			}
			return n + 1;
		}).flatMap(n -> stream(), concurrency, 1).count().cache();
	}

	/** Ends {@link #loop}: no stream starts after this; the loop completes as the last ones end. */
	void stopLoop() {
		this.looping = false;
	}

	/** {@code count} streams at once; their results when all have ended. */
	List<Result> burst(int count) {
		return Flux.range(0, count).flatMap(n -> stream(), count).collectList().block(Duration.ofMinutes(5));
	}

	/** {@code count} streams started {@code interval} apart; their results as they end. */
	Flux<Result> ramp(int count, Duration interval) {
		return Flux.interval(Duration.ZERO, interval).onBackpressureBuffer().take(count).flatMap(n -> stream(), count);
	}

	/** The completed streams' response times recorded since the last call, in microseconds. */
	Histogram responseTimesSinceLast() {
		return this.responseTimes.getIntervalHistogram();
	}

	@Override
	public void close() {
		this.loops.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
	}

	/** How far into a response its bytes are. */
	private enum Part {

		IDLE, STATUS, HEADERS, CHUNK_SIZE, CHUNK, CHUNK_END, TRAILER, FIXED, UNTIL_CLOSE

	}

	/**
	 * One connection's current request and response, on its event loop: the response's status line
	 * and headers read line by line (only its status and the headers that frame its body matter),
	 * then its body, chunked or of a given length, scanned.
	 */
	private final class Exchange extends ChannelInboundHandlerAdapter implements ByteProcessor {

		private final Channel channel;

		private MonoSink<Result> sink;

		private Scan scan;

		private long started;

		private Part part = Part.IDLE;

		private int status;

		private final byte[] line = new byte[256];

		private int lineLength;

		private long remaining;

		private boolean chunked;

		private boolean close;

		Exchange(Channel channel) {
			this.channel = channel;
		}

		void begin(MonoSink<Result> sink) {
			this.sink = sink;
			this.scan = new Scan(LeanLoad.this.api, LeanLoad.this.tokens);
			this.started = System.nanoTime();
			this.part = Part.STATUS;
			this.status = 0;
			this.lineLength = 0;
			this.remaining = -1;
			this.chunked = false;
			this.close = false;
			this.channel.writeAndFlush(Unpooled.wrappedBuffer(LeanLoad.this.request)).addListener(written -> {
				if (!written.isSuccess()) {
					end(written.cause());
				}
			});
		}

		@Override
		public void channelRead(ChannelHandlerContext context, Object message) {
			ByteBuf bytes = (ByteBuf) message;
			try {
				while (bytes.isReadable() && this.part != Part.IDLE) {
					read(bytes);
				}
			}
			finally {
				bytes.release();
			}
		}

		/** Reads what it can of the current part from {@code bytes}. */
		private void read(ByteBuf bytes) {
			switch (this.part) {
				case CHUNK, FIXED -> {
					int length = (int) Math.min(this.remaining, bytes.readableBytes());
					bytes.forEachByte(bytes.readerIndex(), length, this.scan);
					bytes.skipBytes(length);
					this.remaining -= length;
					if (this.remaining == 0) {
						if (this.part == Part.FIXED) {
							end(null);
						}
						else {
							this.part = Part.CHUNK_END;
							this.lineLength = 0;
						}
					}
				}
				case UNTIL_CLOSE -> {
					bytes.forEachByte(this.scan);
					bytes.skipBytes(bytes.readableBytes());
				}
				default -> {
					int end = bytes.forEachByte(this);
					if (end < 0) {
						bytes.skipBytes(bytes.readableBytes());
					}
					else {
						bytes.readerIndex(end + 1);
						line();
						this.lineLength = 0;
					}
				}
			}
		}

		/** Collects a line's bytes up to its newline, where the byte walk stops. */
		@Override
		public boolean process(byte b) {
			if (b == '\n') {
				return false;
			}
			if (b != '\r' && this.lineLength < this.line.length) {
				this.line[this.lineLength++] = b;
			}
			return true;
		}

		private void line() {
			switch (this.part) {
				case STATUS -> {
					// HTTP/1.1 200 OK
					this.status = (this.lineLength >= 12) ? Integer.parseInt(text(9, 12)) : 0;
					this.part = Part.HEADERS;
				}
				case HEADERS -> {
					if (this.lineLength > 0) {
						header();
					}
					else if (this.chunked) {
						this.part = Part.CHUNK_SIZE;
					}
					else if (this.remaining > 0) {
						this.part = Part.FIXED;
					}
					else if (this.remaining == 0) {
						end(null);
					}
					else {
						this.part = Part.UNTIL_CLOSE;
					}
				}
				case CHUNK_SIZE -> {
					String size = text(0, this.lineLength);
					int extension = size.indexOf(';');
					this.remaining = Long.parseLong((extension < 0) ? size.strip() : size.substring(0, extension).strip(), 16);
					this.part = (this.remaining == 0) ? Part.TRAILER : Part.CHUNK;
				}
				case CHUNK_END -> this.part = Part.CHUNK_SIZE;
				case TRAILER -> {
					if (this.lineLength == 0) {
						end(null);
					}
				}
				default -> throw new IllegalStateException(this.part.toString());
			}
		}

		private void header() {
			String header = text(0, this.lineLength).toLowerCase(Locale.ROOT);
			if (header.startsWith("content-length:")) {
				this.remaining = Long.parseLong(header.substring(15).strip());
			}
			else if (header.startsWith("transfer-encoding:")) {
				this.chunked = header.contains("chunked");
			}
			else if (header.startsWith("connection:")) {
				this.close = header.contains("close");
			}
		}

		private String text(int from, int to) {
			return new String(this.line, from, to - from, StandardCharsets.US_ASCII);
		}

		/** The response ended (or failed): the connection goes back to the idle ones if it may be reused. */
		private void end(Throwable failure) {
			MonoSink<Result> sink = this.sink;
			if (sink == null) {
				return;
			}
			Result result = finished(this.status, this.scan, this.started, failure);
			this.sink = null;
			this.part = Part.IDLE;
			if (failure == null && !this.close && this.channel.isActive()) {
				LeanLoad.this.idle.offer(this.channel);
			}
			else {
				this.channel.close();
			}
			sink.success(result);
		}

		@Override
		public void channelInactive(ChannelHandlerContext context) {
			if (this.part == Part.UNTIL_CLOSE) {
				end(null);
			}
			else if (this.sink != null) {
				end(new IOException("connection closed in " + this.part));
			}
		}

		@Override
		public void exceptionCaught(ChannelHandlerContext context, Throwable cause) {
			end(cause);
			context.close();
		}

	}

	/**
	 * A stream's response scanned byte by byte across its chunks: native frames by their
	 * {@code event:} line ({@code token}, {@code stream.completed}, ...), OpenAI chunks by a
	 * non-empty {@code "content":"} and the closing {@code data: [DONE]}.
	 */
	private static final class Scan implements ByteProcessor {

		private static final Pattern EVENT = new Pattern("\nevent:");

		private static final Pattern CONTENT = new Pattern("\"content\":\"");

		private static final Pattern DONE = new Pattern("data: [DONE]");

		private static final byte[] TOKEN = "token".getBytes(StandardCharsets.US_ASCII);

		private static final byte[] COMPLETED = "stream.completed".getBytes(StandardCharsets.US_ASCII);

		private final boolean openAi;

		private final LongAdder total;

		/** How many bytes of each pattern the bytes so far end with. */
		private int event;

		private int content;

		private int done;

		/** After {@code "content":"}: the next byte says whether the content is empty. */
		private boolean afterContent;

		/** After {@code event:}: the type so far, up to its line's end (-1: not in a type). */
		private final byte[] type = new byte[32];

		private int typeLength = -1;

		int count;

		long firstTokenNanos;

		boolean ended;

		boolean completed;

		Scan(Api api, LongAdder total) {
			this.openAi = api == Api.OPENAI;
			this.total = total;
			// As if after a newline: a frame without an id line starts with its event line.
			this.event = this.openAi ? 0 : 1;
		}

		@Override
		public boolean process(byte b) {
			if (this.openAi) {
				if (this.afterContent) {
					this.afterContent = false;
					if (b != '"') {
						token();
					}
				}
				this.content = CONTENT.next(this.content, b);
				if (this.content == CONTENT.length()) {
					this.afterContent = true;
					this.content = 0;
				}
				this.done = DONE.next(this.done, b);
				if (this.done == DONE.length()) {
					this.ended = true;
					this.completed = true;
					this.done = 0;
				}
				return true;
			}
			if (this.typeLength >= 0) {
				if (b == '\n') {
					typed();
					this.typeLength = -1;
				}
				else if (b != ' ' || this.typeLength > 0) {
					if (this.typeLength < this.type.length) {
						this.type[this.typeLength] = b;
					}
					this.typeLength++;
				}
				return true;
			}
			this.event = EVENT.next(this.event, b);
			if (this.event == EVENT.length()) {
				this.typeLength = 0;
				this.event = 0;
			}
			return true;
		}

		private void typed() {
			if (is(TOKEN)) {
				token();
			}
			else if (this.typeLength > 7 && this.type[0] == 's' && this.type[6] == '.') {
				// stream.completed, stream.failed, stream.cancelled
				this.ended = true;
				this.completed = is(COMPLETED);
			}
		}

		private boolean is(byte[] word) {
			if (this.typeLength != word.length) {
				return false;
			}
			for (int i = 0; i < word.length; i++) {
				if (this.type[i] != word[i]) {
					return false;
				}
			}
			return true;
		}

		private void token() {
			if (this.count++ == 0) {
				this.firstTokenNanos = System.nanoTime();
			}
			this.total.increment();
		}

	}

	/** A byte pattern matched across chunks (Knuth-Morris-Pratt): {@link #next} from the bytes matched so far. */
	private static final class Pattern {

		private final byte[] bytes;

		private final int[] fallback;

		Pattern(String text) {
			this.bytes = text.getBytes(StandardCharsets.US_ASCII);
			this.fallback = new int[this.bytes.length];
			for (int i = 1, k = 0; i < this.bytes.length; i++) {
				while (k > 0 && this.bytes[i] != this.bytes[k]) {
					k = this.fallback[k - 1];
				}
				if (this.bytes[i] == this.bytes[k]) {
					k++;
				}
				this.fallback[i] = k;
			}
		}

		int length() {
			return this.bytes.length;
		}

		int next(int matched, byte b) {
			while (matched > 0 && this.bytes[matched] != b) {
				matched = this.fallback[matched - 1];
			}
			return (this.bytes[matched] == b) ? matched + 1 : matched;
		}

	}

}
