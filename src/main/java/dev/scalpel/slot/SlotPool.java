package dev.scalpel.slot;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.IntConsumer;

import org.jspecify.annotations.Nullable;
import reactor.core.Disposable;
import reactor.core.publisher.Mono;
import reactor.core.publisher.MonoSink;
import reactor.core.publisher.Operators;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;
import reactor.util.context.Context;

/**
 * A fair (FIFO), non-blocking semaphore for Reactor with a bounded wait queue and a wait limit.
 *
 * <p>Written by hand rather than taken from a library because of the guarantees it sells: a waiter
 * whose {@code Mono} is cancelled leaves the queue at once, a permit that is granted while its
 * waiter is being cancelled is given back rather than lost, waiters learn their queue position as
 * it improves, and a full queue is refused synchronously so a start can be rejected before anything
 * is created. Reactor's operators ({@code timeout} in particular) drop a value that races with
 * cancellation, which would leak a slot; here the grant, the timeout and the cancellation are
 * decided under one lock, so exactly one of them wins.
 *
 * <p>The lock guards only a counter and a deque and is never held while calling out; position
 * listeners and subscribers are signalled after it is released.
 */
public final class SlotPool {

	private final int capacity;

	private final int queueMax;

	private final Duration queueTimeout;

	private final Scheduler timer;

	/** Free slots. Guarded by {@code this}. */
	private int available;

	/** Waiters in arrival order. Guarded by {@code this}. */
	private final ArrayDeque<Waiter> waiters = new ArrayDeque<>();

	/** Permits granted and not yet released, for the leak auditor. Guarded by {@code this}. */
	private final Set<SlotPermit> outstanding = new HashSet<>();

	public SlotPool(int capacity, int queueMax, Duration queueTimeout) {
		this(capacity, queueMax, queueTimeout, Schedulers.parallel());
	}

	public SlotPool(int capacity, int queueMax, Duration queueTimeout, Scheduler timer) {
		if (capacity < 1) {
			throw new IllegalArgumentException("capacity must be at least 1");
		}
		if (queueMax < 0) {
			throw new IllegalArgumentException("queueMax must not be negative");
		}
		this.capacity = capacity;
		this.queueMax = queueMax;
		this.queueTimeout = queueTimeout;
		this.timer = timer;
		this.available = capacity;
	}

	/** A permit, waiting in the queue if no slot is free. */
	public Mono<Permit> acquire() {
		return acquire(position -> {
		});
	}

	/**
	 * A permit, waiting in the queue if no slot is free.
	 *
	 * <p>On subscription the request either gets a slot, joins the queue, or fails at once with
	 * {@link QueueFull} (synchronously, in the subscribing thread). A queued request fails with
	 * {@link QueueTimeout} when it has waited the queue timeout. Cancelling the subscription leaves
	 * the queue at once; a permit granted concurrently with the cancellation is released.
	 * @param positionListener told the 1-based queue position when the request joins the queue and
	 *     each time it improves; under concurrency an older (larger) position may arrive after a newer
	 *     one, so keep the smallest
	 */
	public Mono<Permit> acquire(IntConsumer positionListener) {
		return Mono.create(sink -> {
			Waiter waiter = new Waiter(sink, positionListener);
			// Registered before the waiter is visible to the pool, so a cancellation can never miss it.
			sink.onCancel(() -> leave(waiter));
			enter(waiter);
		});
	}

	private void enter(Waiter waiter) {
		Permit granted = null;
		boolean full = false;
		int position = 0;
		synchronized (this) {
			if (waiter.cancelled) {
				return;
			}
			if (this.available > 0 && this.waiters.isEmpty()) {
				this.available--;
				granted = new SlotPermit();
				waiter.permit = granted;
			}
			else if (this.waiters.size() >= this.queueMax) {
				full = true;
			}
			else {
				this.waiters.addLast(waiter);
				position = this.waiters.size();
			}
		}
		if (granted != null) {
			waiter.sink.success(granted);
		}
		else if (full) {
			waiter.sink.error(new QueueFull(this.queueMax));
		}
		else {
			tell(waiter, position);
			try {
				waiter.timeout = this.timer.schedule(() -> expire(waiter), this.queueTimeout.toNanos(),
						TimeUnit.NANOSECONDS);
			}
			catch (RejectedExecutionException ex) {
				// Without its timer the waiter could wait forever: it leaves the queue and fails now.
				// Left queued behind a failed sink, it would later swallow a slot nobody can release.
				fail(waiter, ex);
				return;
			}
			// The waiter may have been granted or cancelled before its timer existed.
			if (settled(waiter)) {
				waiter.cancelTimeout();
			}
		}
	}

	private synchronized boolean settled(Waiter waiter) {
		return waiter.permit != null || waiter.cancelled;
	}

	private void leave(Waiter waiter) {
		Permit undelivered;
		List<Moved> moved;
		synchronized (this) {
			waiter.cancelled = true;
			moved = removeLocked(waiter);
			undelivered = waiter.permit;
		}
		waiter.cancelTimeout();
		// Cancelled after the grant but before the value reached the subscriber: the sink discards the
		// value, so the slot must be given back here.
		if (undelivered != null) {
			undelivered.release();
		}
		announce(moved);
	}

	private void expire(Waiter waiter) {
		fail(waiter, new QueueTimeout(this.queueTimeout));
	}

	/** Takes a waiting request out of the queue and fails it, unless it was granted or cancelled first. */
	private void fail(Waiter waiter, RuntimeException failure) {
		List<Moved> moved;
		synchronized (this) {
			if (waiter.permit != null || waiter.cancelled || !this.waiters.contains(waiter)) {
				return;
			}
			waiter.cancelled = true;
			moved = removeLocked(waiter);
		}
		waiter.sink.error(failure);
		announce(moved);
	}

	private void free(SlotPermit released) {
		Waiter next;
		List<Moved> moved;
		Permit handed = null;
		synchronized (this) {
			this.outstanding.remove(released);
			next = this.waiters.pollFirst();
			if (next == null) {
				this.available++;
				return;
			}
			handed = new SlotPermit();
			next.permit = handed;
			moved = positionsFrom(0);
		}
		next.cancelTimeout();
		next.sink.success(handed);
		announce(moved);
	}

	/** Removes the waiter and returns the new positions of the waiters behind it. */
	private List<Moved> removeLocked(Waiter waiter) {
		int index = 0;
		for (Iterator<Waiter> it = this.waiters.iterator(); it.hasNext(); index++) {
			if (it.next() == waiter) {
				it.remove();
				return positionsFrom(index);
			}
		}
		return List.of();
	}

	/** The positions of the waiters from the given 0-based index on. Call with the lock held. */
	private List<Moved> positionsFrom(int start) {
		if (start >= this.waiters.size()) {
			return List.of();
		}
		List<Moved> moved = new ArrayList<>(this.waiters.size() - start);
		int index = 0;
		for (Waiter each : this.waiters) {
			if (index >= start) {
				moved.add(new Moved(each, index + 1));
			}
			index++;
		}
		return moved;
	}

	private static void announce(List<Moved> moved) {
		// Computed under the lock, told outside it: a listener may get an older position after a newer
		// one when two changes race, which is why listeners keep the smallest.
		for (Moved each : moved) {
			tell(each.waiter, each.position);
		}
	}

	/**
	 * Tells a waiter its position. A listener that throws is reported and otherwise ignored: it must
	 * not leave its waiter queued behind a failed sink, nor break the release or cancellation of
	 * another stream that moved it up, nor keep the waiters after it from hearing theirs.
	 */
	private static void tell(Waiter waiter, int position) {
		try {
			waiter.listener.accept(position);
		}
		catch (RuntimeException ex) {
			Operators.onErrorDropped(ex, Context.of(waiter.sink.contextView()));
		}
	}

	/** Configured number of slots. */
	public int capacity() {
		return this.capacity;
	}

	/** Configured bound of the wait queue. */
	public int queueMax() {
		return this.queueMax;
	}

	/** Slots held right now. */
	public synchronized int inUse() {
		return this.capacity - this.available;
	}

	/** Requests waiting for a slot right now. */
	public synchronized int queued() {
		return this.waiters.size();
	}

	/** Whether a request made now would be refused with {@link QueueFull}. */
	public synchronized boolean full() {
		return this.available == 0 && this.waiters.size() >= this.queueMax;
	}

	/** Permits granted and not released, with when each was granted ({@link System#nanoTime()}). */
	public synchronized List<Held> held() {
		List<Held> held = new ArrayList<>(this.outstanding.size());
		for (SlotPermit permit : this.outstanding) {
			held.add(new Held(permit, permit.grantedAt));
		}
		return held;
	}

	/** A permit that is out, and since when. */
	public record Held(Permit permit, long grantedAt) {
	}

	/** Created under the pool's lock only. */
	private final class SlotPermit implements Permit {

		private final AtomicBoolean released = new AtomicBoolean();

		private final long grantedAt = System.nanoTime();

		SlotPermit() {
			SlotPool.this.outstanding.add(this);
		}

		@Override
		public void release() {
			if (this.released.compareAndSet(false, true)) {
				free(this);
			}
		}

		@Override
		public boolean released() {
			return this.released.get();
		}

	}

	private record Moved(Waiter waiter, int position) {
	}

	private static final class Waiter {

		final MonoSink<Permit> sink;

		final IntConsumer listener;

		/** Guarded by the pool. */
		@Nullable Permit permit;

		/** Guarded by the pool. */
		boolean cancelled;

		volatile @Nullable Disposable timeout;

		Waiter(MonoSink<Permit> sink, IntConsumer listener) {
			this.sink = sink;
			this.listener = listener;
		}

		void cancelTimeout() {
			Disposable scheduled = this.timeout;
			if (scheduled != null) {
				scheduled.dispose();
			}
		}

	}

}
