package dev.scalpel.support;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import reactor.core.publisher.Flux;
import reactor.core.publisher.Sinks;

import dev.scalpel.upstream.Chunk;
import dev.scalpel.upstream.GenerationRequest;
import dev.scalpel.upstream.TokenSource;
import dev.scalpel.upstream.Usage;

/**
 * A test provider driven by the test: every generation is a {@link Call} whose tokens, end and
 * failure the test emits by hand, and which records when Scalpel subscribed to it and when it was
 * cancelled, i.e. when the "upstream connection" was closed. Serves the model {@value #MODEL}.
 */
public final class FakeControlledTokenSource implements TokenSource {

	public static final String MODEL = "controlled";

	private final LinkedBlockingQueue<Call> pending = new LinkedBlockingQueue<>();

	private final List<Call> calls = new CopyOnWriteArrayList<>();

	private final AtomicInteger open = new AtomicInteger();

	@Override
	public String name() {
		return "test";
	}

	@Override
	public Set<String> models() {
		return Set.of(MODEL);
	}

	@Override
	public Flux<Chunk> generate(GenerationRequest request) {
		return Flux.defer(() -> {
			Call call = new Call(request);
			this.calls.add(call);
			this.pending.add(call);
			return call.sink.asFlux()
				.doOnSubscribe(subscription -> this.open.incrementAndGet())
				.doOnCancel(() -> call.cancelledAt = System.nanoTime())
				.doFinally(signal -> {
					call.closedAt = System.nanoTime();
					this.open.decrementAndGet();
				});
		});
	}

	/** The next call Scalpel makes, waiting up to the timeout for it. */
	public Call nextCall(Duration timeout) {
		try {
			Call call = this.pending.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
			if (call == null) {
				throw new AssertionError("no upstream call within " + timeout);
			}
			return call;
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
			throw new AssertionError(ex);
		}
	}

	/** Upstream calls open right now (subscribed and neither finished nor cancelled). */
	public int open() {
		return this.open.get();
	}

	/** Every call made so far. */
	public List<Call> calls() {
		return List.copyOf(this.calls);
	}

	/** Forgets calls that were never taken with {@link #nextCall}. */
	public void reset() {
		this.pending.clear();
	}

	/** One upstream generation. */
	public static final class Call {

		private final GenerationRequest request;

		private final Sinks.Many<Chunk> sink = Sinks.many().unicast().onBackpressureBuffer();

		volatile long cancelledAt;

		volatile long closedAt;

		Call(GenerationRequest request) {
			this.request = request;
		}

		public GenerationRequest request() {
			return this.request;
		}

		// Emissions after Scalpel closed the call are ignored, as a real connection would drop them.

		private int tokens;

		public synchronized Call token(String text) {
			this.tokens++;
			this.sink.tryEmitNext(new Chunk.Token(text));
			return this;
		}

		public synchronized void finish(String reason) {
			this.sink.tryEmitNext(new Chunk.Finished(reason, new Usage(3, this.tokens)));
		}

		public synchronized void fail(RuntimeException failure) {
			this.sink.tryEmitError(failure);
		}

		public synchronized void completeWithoutFinishing() {
			this.sink.tryEmitComplete();
		}

		/** Whether Scalpel cancelled this call (closed the upstream connection). */
		public boolean cancelled() {
			return this.cancelledAt != 0;
		}

		/** Whether the call is over, by cancellation or by its own end. */
		public boolean closed() {
			return this.closedAt != 0;
		}

	}

}
