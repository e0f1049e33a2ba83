package dev.scalpel.support;

import java.util.concurrent.TimeUnit;

import reactor.core.Disposable;
import reactor.core.Disposables;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * A broken timer service for tests: delayed and periodic tasks are accepted and never run. Wired into
 * a {@link StreamManager}, it makes every timed release path (attach timeout, disconnect grace,
 * max-duration) fail the way a bug would, so the leak auditor has something real to find.
 */
public final class FakeStuckTimers implements Scheduler {

	@Override
	public Disposable schedule(Runnable task) {
		return Schedulers.parallel().schedule(task);
	}

	@Override
	public Disposable schedule(Runnable task, long delay, TimeUnit unit) {
		return Disposables.single();
	}

	@Override
	public Disposable schedulePeriodically(Runnable task, long initialDelay, long period, TimeUnit unit) {
		return Disposables.single();
	}

	@Override
	public Worker createWorker() {
		FakeStuckTimers timers = this;
		Disposable.Composite tasks = Disposables.composite();
		return new Worker() {

			@Override
			public Disposable schedule(Runnable task) {
				return timers.schedule(task);
			}

			@Override
			public Disposable schedule(Runnable task, long delay, TimeUnit unit) {
				return timers.schedule(task, delay, unit);
			}

			@Override
			public Disposable schedulePeriodically(Runnable task, long initialDelay, long period, TimeUnit unit) {
				return timers.schedulePeriodically(task, initialDelay, period, unit);
			}

			@Override
			public void dispose() {
				tasks.dispose();
			}

			@Override
			public boolean isDisposed() {
				return tasks.isDisposed();
			}

		};
	}

}
