package dev.scalpel.upstream.fake;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import io.netty.channel.Channel;
import org.jspecify.annotations.Nullable;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;

/**
 * One TCP connection accepted by {@link TestUpstream}: when it opened, when it closed and which
 * side closed it. Timestamps come from {@link System#nanoTime()}. Thread-safe.
 */
public final class UpstreamConnection {

	private final int id;

	private final long openedNanos;

	private final Channel channel;

	private final CompletableFuture<Long> closed = new CompletableFuture<>();

	private final Sinks.Empty<Void> closedSignal = Sinks.empty();

	private volatile boolean closedByServer;

	private volatile boolean closedByClient;

	private volatile @Nullable String tag;

	private volatile long taggedNanos;

	UpstreamConnection(int id, Channel channel) {
		this.id = id;
		this.channel = channel;
		this.openedNanos = System.nanoTime();
	}

	/** The number of this connection, from 1 in accept order. */
	public int id() {
		return this.id;
	}

	/** When the connection was accepted. */
	public long openedNanos() {
		return this.openedNanos;
	}

	/** Whether the connection is still open. */
	public boolean isOpen() {
		return !this.closed.isDone();
	}

	/** When the connection closed, or 0 while it is open. */
	public long closedNanos() {
		return this.closed.getNow(0L);
	}

	/**
	 * Whether the client closed the connection (a FIN or a reset from its side); {@code false} while
	 * open and when the server closed it (a scripted reset, an error, the server stopping).
	 */
	public boolean closedByClient() {
		return this.closedByClient;
	}

	/**
	 * Waits until the connection is closed.
	 * @param timeout how long to wait at most
	 * @param sinceNanos a {@link System#nanoTime()} to measure from, such as when the client cancelled
	 * @return how long after {@code sinceNanos} the connection closed
	 * @throws AssertionError if it is still open after the timeout
	 */
	public Duration awaitClosed(Duration timeout, long sinceNanos) {
		try {
			return Duration.ofNanos(this.closed.get(timeout.toNanos(), TimeUnit.NANOSECONDS) - sinceNanos);
		}
		catch (TimeoutException ex) {
			throw new AssertionError("Upstream connection still open after " + timeout + ": " + this);
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
			throw new AssertionError(ex);
		}
		catch (ExecutionException ex) {
			throw new IllegalStateException(ex);
		}
	}

	Channel channel() {
		return this.channel;
	}

	/** Completes when the connection closes. */
	Mono<Void> onClose() {
		return this.closedSignal.asMono();
	}

	/**
	 * The content of the last message of the newest request on this connection: a load generator
	 * puts a stream's own tag there to match the connection to its stream. Null before a request.
	 */
	public @Nullable String tag() {
		return this.tag;
	}

	/** When the request that set {@link #tag()} was received ({@link System#nanoTime()}), 0 before. */
	public long taggedNanos() {
		return this.taggedNanos;
	}

	void tag(@Nullable String tag, long receivedNanos) {
		this.tag = tag;
		this.taggedNanos = receivedNanos;
	}

	/** Marks a close started by the server, before it happens. */
	void closingByServer() {
		this.closedByServer = true;
	}

	/** Records the close, on the connection's event loop. */
	void closed() {
		long now = System.nanoTime();
		this.closedByClient = !this.closedByServer;
		this.closed.complete(now);
		this.closedSignal.tryEmitEmpty();
	}

	@Override
	public String toString() {
		long closedAt = closedNanos();
		String life = (closedAt == 0) ? "open for " + millisSinceOpened(System.nanoTime())
				: "closed by " + (this.closedByClient ? "client" : "server") + " after " + millisSinceOpened(closedAt);
		return "UpstreamConnection#" + this.id + " from " + this.channel.remoteAddress() + ", " + life;
	}

	private String millisSinceOpened(long nanos) {
		return Duration.ofNanos(nanos - this.openedNanos).toMillis() + " ms";
	}

}
