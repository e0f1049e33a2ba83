package dev.scalpel.stream;

import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import io.github.resilience4j.circuitbreaker.CallNotPermittedException;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.internal.ThreadExecutorMap;
import org.reactivestreams.Subscription;
import reactor.core.Disposable;
import reactor.core.publisher.BaseSubscriber;
import reactor.core.publisher.Mono;
import reactor.core.publisher.SignalType;
import reactor.core.scheduler.Scheduler;

import dev.scalpel.slot.Permit;
import dev.scalpel.upstream.Chunk;
import dev.scalpel.upstream.GenerationRequest;
import dev.scalpel.upstream.IdleWatchdog;
import dev.scalpel.upstream.TokenSource;
import dev.scalpel.upstream.UpstreamFailure;
import dev.scalpel.upstream.UpstreamProperties;

/**
 * The upstream call of a stream that got its slot: started under the max-duration deadline, read
 * into the stream chunk by chunk, and ended through the {@link StreamLifecycle} with what its
 * finish, its failure or its timeout means. Cancelling it (the stream's end) closes the call.
 */
final class UpstreamCall {

	// Logged under the manager's name, which operators' log filters know.
	private static final Log logger = LogFactory.getLog(StreamManager.class);

	private final UpstreamProperties upstream;

	private final StreamLifecycle lifecycle;

	private final StreamObserver observer;

	private final Clock clock;

	private final Scheduler timers;

	/** Upstream calls open right now. */
	private final AtomicInteger open = new AtomicInteger();

	UpstreamCall(UpstreamProperties upstream, StreamLifecycle lifecycle, StreamObserver observer, Clock clock,
			Scheduler timers) {
		this.upstream = upstream;
		this.lifecycle = lifecycle;
		this.observer = observer;
		this.clock = clock;
		this.timers = timers;
	}

	/** Upstream calls open right now. */
	int openCount() {
		return this.open.get();
	}

	/** The stream got its slot: starts it and makes its call, or gives the slot back if it ended meanwhile. */
	void granted(ManagedStream stream, Permit permit) {
		Reader reader = new Reader(stream);
		Disposable deadline = this.lifecycle.schedule(this.upstream.maxDuration(), () -> this.lifecycle.end(stream,
				Ending.failed(FinishReason.TIMEOUT, "the generation ran longer than " + this.upstream.maxDuration()),
				Guard.NONE));
		// Read before the start: a stream that ended may be compacted (its request let go) at any time,
		// but one that starts below had not ended, so it still had its request here.
		GenerationRequest request = stream.request();
		if (request == null || !stream.start(permit, reader, deadline, this.clock.instant(),
				stream.source().promptTokens(request))) {
			// Ended while the permit was on its way: give it back, start nothing.
			deadline.dispose();
			permit.release();
			return;
		}
		stream.signal();
		this.observer.started(stream.id(), Duration.ofNanos(stream.sinceAsked(System.nanoTime())));
		EventExecutor loop = ThreadExecutorMap.currentExecutor();
		if (loop == null) {
			call(stream, request, reader);
			return;
		}
		// On an event loop the call is made one loop task later, after the turn's I/O events: a client
		// that gave up while its request waited is read with its close in the same turn (epoll), and
		// its stream has then ended and disposed the reader, so no request is sent
		// (docs/adr/upstream-call-next-task.md). No Reactor operator defers by one task of the current
		// loop, and Netty's ThreadExecutorMap is the one way to find that loop from here.
		try {
			loop.execute(() -> call(stream, request, reader));
		}
		catch (RejectedExecutionException shuttingDown) {
			call(stream, request, reader);
		}
	}

	/** Makes the upstream call of a started stream, unless the stream ended since. */
	private void call(ManagedStream stream, GenerationRequest request, Reader reader) {
		if (reader.isDisposed()) {
			// Ended since it started: its slot is back and nobody waits for this call.
			return;
		}
		// If the stream ends before the subscription below, the disposed subscriber cancels the
		// upstream call as soon as it is subscribed.
		TokenSource source = stream.source();
		// Re-armed by every chunk without a schedule and a cancel on the timers per token.
		IdleWatchdog idle = new IdleWatchdog(this.upstream.idleTimeout(), this.timers);
		source.guard(source.generate(request)
			.timeout(Mono.delay(this.upstream.firstTokenTimeout(), this.timers), chunk -> idle.arm())
			.doFinally(signal -> idle.dispose()))
			.subscribe(reader);
	}

	/** What an upstream call's failure means for its stream; logs what an operator should know. */
	private Ending failed(ManagedStream stream, Throwable failure) {
		if (failure instanceof TimeoutException) {
			return Ending.failed(FinishReason.TIMEOUT, stream.hasFirstToken()
					? "no token for " + this.upstream.idleTimeout()
					: "no first token within " + this.upstream.firstTokenTimeout());
		}
		if (failure instanceof UpstreamFailure upstream) {
			logged(stream, upstream);
			return (upstream.kind() == UpstreamFailure.Kind.CONNECT_TIMEOUT)
					? Ending.failed(FinishReason.TIMEOUT, upstream.getMessage(), upstream.endpoint(), null, null)
					: Ending.failed(FinishReason.UPSTREAM_ERROR, upstream.getMessage(), upstream.endpoint(),
							upstream.status(), upstream.providerType());
		}
		if (failure instanceof CallNotPermittedException) {
			return Ending.failed(FinishReason.UPSTREAM_ERROR, "the endpoint's circuit breaker is open",
					stream.source().name(), null, null);
		}
		logger.warn("Stream " + stream.id() + ": upstream call failed", failure);
		return Ending.failed(FinishReason.UPSTREAM_ERROR, "the upstream call failed");
	}

	/**
	 * One line per failed call, without a stack trace: the failure's message already says what happened
	 * (and is the one the stream's status shows). A request the provider judged wrong is the caller's
	 * business, at INFO; anything that says something about the provider, at WARN.
	 */
	private static void logged(ManagedStream stream, UpstreamFailure upstream) {
		String line = "Stream " + stream.id() + ": upstream call to " + upstream.endpoint() + " failed: "
				+ upstream.getMessage();
		if (upstream.countsAsFailure()) {
			logger.warn(line);
		}
		else {
			logger.info(line);
		}
	}

	/** Reads one upstream generation into its stream. */
	private final class Reader extends BaseSubscriber<Chunk> {

		private final ManagedStream stream;

		/** 0 before the call, 1 while it is open, 2 after: counts each call in and out exactly once. */
		private final AtomicInteger state = new AtomicInteger();

		Reader(ManagedStream stream) {
			this.stream = stream;
		}

		@Override
		protected void hookOnSubscribe(Subscription subscription) {
			if (this.state.compareAndSet(0, 1)) {
				UpstreamCall.this.open.incrementAndGet();
			}
			// Unbounded: listeners read from the log at their own pace, the model is never slowed.
			subscription.request(Long.MAX_VALUE);
		}

		@Override
		protected void hookFinally(SignalType type) {
			if (this.state.getAndSet(2) == 1) {
				UpstreamCall.this.open.decrementAndGet();
			}
		}

		@Override
		protected void hookOnNext(Chunk chunk) {
			if (chunk instanceof Chunk.Token token) {
				observed(this.stream.token(token.text(), UpstreamCall.this.clock.instant()));
			}
			else if (chunk instanceof Chunk.ToolCalls calls) {
				if (!calls.text().isEmpty()) {
					observed(this.stream.token(calls.text(), UpstreamCall.this.clock.instant()));
				}
				observed(this.stream.toolCalls(calls.json(), UpstreamCall.this.clock.instant()));
			}
			else if (chunk instanceof Chunk.Finished finished) {
				UpstreamCall.this.lifecycle.end(this.stream,
						Ending.finished(FinishReason.ofModel(finished.reason()), finished.usage()), Guard.NONE);
			}
		}

		@Override
		protected void hookOnError(Throwable failure) {
			UpstreamCall.this.lifecycle.end(this.stream, failed(this.stream, failure), Guard.NONE);
		}

		@Override
		protected void hookOnComplete() {
			// A normal end arrives as a Finished chunk and has already ended the stream: this is a no-op then.
			UpstreamCall.this.lifecycle.end(this.stream,
					Ending.failed(FinishReason.UPSTREAM_ERROR, "the upstream stream ended without finishing"),
					Guard.NONE);
		}

		private void observed(Appended appended) {
			if (appended != Appended.DROPPED) {
				UpstreamCall.this.observer.token();
				if (appended == Appended.FIRST) {
					UpstreamCall.this.observer.firstToken(this.stream.id(),
							Duration.ofNanos(this.stream.sinceAsked(System.nanoTime())));
				}
			}
		}

	}

}
