package dev.scalpel.upstream;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import org.jspecify.annotations.Nullable;
import org.reactivestreams.Subscription;
import reactor.core.CoreSubscriber;
import reactor.core.Disposable;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

/**
 * The idle timeout of one upstream call, for {@code Flux.timeout(first, chunk -> watchdog.arm())}:
 * re-armed by every chunk without touching the scheduler. Each chunk's arm only records its deadline;
 * one task per call sleeps until the oldest deadline and, when it wakes, either fires the current
 * arm (its deadline has passed: {@code timeout} then fails the call exactly as with
 * {@code Mono.delay}) or sleeps again for what is left. One timer operation per idle period instead
 * of a schedule and a cancel per chunk, each of which may wake a timer thread.
 */
public final class IdleWatchdog implements Disposable {

	private final long idleNanos;

	private final Scheduler timers;

	private volatile @Nullable Arm current;

	/** The one pending check; guarded by this. */
	private @Nullable Disposable task;

	/** Guarded by this. */
	private boolean disposed;

	public IdleWatchdog(Duration idle, Scheduler timers) {
		this.idleNanos = idle.toNanos();
		this.timers = timers;
	}

	/** A timeout that fires when no later arm has replaced it within the idle timeout. */
	public Mono<Long> arm() {
		return new Arm();
	}

	@Override
	public void dispose() {
		Disposable pending;
		synchronized (this) {
			this.disposed = true;
			pending = this.task;
			this.task = null;
		}
		if (pending != null) {
			pending.dispose();
		}
	}

	@Override
	public synchronized boolean isDisposed() {
		return this.disposed;
	}

	private void armed(Arm arm) {
		this.current = arm;
		synchronized (this) {
			if (!this.disposed && this.task == null) {
				this.task = this.timers.schedule(this::check, this.idleNanos, TimeUnit.NANOSECONDS);
			}
		}
	}

	private void check() {
		Arm due = null;
		synchronized (this) {
			this.task = null;
			Arm arm = this.current;
			if (this.disposed || arm == null || arm.cancelled) {
				// Between two chunks (the next arm schedules a check) or over.
				return;
			}
			long left = arm.deadline - this.timers.now(TimeUnit.NANOSECONDS);
			if (left > 0) {
				this.task = this.timers.schedule(this::check, left, TimeUnit.NANOSECONDS);
			}
			else {
				due = arm;
			}
		}
		if (due != null) {
			due.fire();
		}
	}

	private final class Arm extends Mono<Long> implements Subscription {

		long deadline;

		volatile boolean cancelled;

		private @Nullable CoreSubscriber<? super Long> actual;

		@Override
		public void subscribe(CoreSubscriber<? super Long> actual) {
			this.actual = actual;
			this.deadline = IdleWatchdog.this.timers.now(TimeUnit.NANOSECONDS) + IdleWatchdog.this.idleNanos;
			actual.onSubscribe(this);
			armed(this);
		}

		void fire() {
			CoreSubscriber<? super Long> subscriber = this.actual;
			if (subscriber != null && !this.cancelled) {
				subscriber.onNext(0L);
				subscriber.onComplete();
			}
		}

		@Override
		public void request(long n) {
		}

		@Override
		public void cancel() {
			this.cancelled = true;
		}

	}

}
