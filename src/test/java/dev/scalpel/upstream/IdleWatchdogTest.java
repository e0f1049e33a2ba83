package dev.scalpel.upstream;

import java.time.Duration;
import java.util.concurrent.TimeoutException;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;
import reactor.test.scheduler.VirtualTimeScheduler;
import reactor.test.subscriber.TestSubscriber;

import static org.assertj.core.api.Assertions.assertThat;

/** The idle timeout re-armed by every item without a timer per item: it fires the idle timeout after the last item. */
class IdleWatchdogTest {

	private static final Duration IDLE = Duration.ofSeconds(30);

	private final VirtualTimeScheduler timers = VirtualTimeScheduler.create();

	@AfterEach
	void disposeTimers() {
		this.timers.dispose();
	}

	@Test
	void failsTheIdleTimeoutAfterTheLastItemAndNotBefore() {
		Sinks.Many<String> upstream = Sinks.many().unicast().onBackpressureBuffer();
		IdleWatchdog idle = new IdleWatchdog(IDLE, this.timers);
		TestSubscriber<String> subscriber = TestSubscriber.create();
		upstream.asFlux()
			.timeout(Mono.never(), item -> idle.arm())
			.doFinally(signal -> idle.dispose())
			.subscribe(subscriber);

		for (int i = 0; i < 100; i++) {
			upstream.tryEmitNext("token");
			this.timers.advanceTimeBy(Duration.ofSeconds(1));
		}
		this.timers.advanceTimeBy(Duration.ofSeconds(28));
		assertThat(subscriber.isTerminated()).isFalse();
		// One check per idle period, not one timer per item: 100 s of items, 30 s idle timeout.
		assertThat(this.timers.getScheduledTaskCount()).isLessThanOrEqualTo(5);

		this.timers.advanceTimeBy(Duration.ofMillis(999));
		assertThat(subscriber.isTerminated()).isFalse();
		this.timers.advanceTimeBy(Duration.ofMillis(1));
		assertThat(subscriber.expectTerminalError()).isInstanceOf(TimeoutException.class);
		assertThat(subscriber.getReceivedOnNext()).hasSize(100);
		assertThat(idle.isDisposed()).isTrue();
	}

	@Test
	void aCallThatEndsLeavesNoPendingCheck() {
		Sinks.Many<String> upstream = Sinks.many().unicast().onBackpressureBuffer();
		IdleWatchdog idle = new IdleWatchdog(IDLE, this.timers);
		TestSubscriber<String> subscriber = TestSubscriber.create();
		upstream.asFlux()
			.timeout(Mono.never(), item -> idle.arm())
			.doFinally(signal -> idle.dispose())
			.subscribe(subscriber);

		upstream.tryEmitNext("token");
		upstream.tryEmitComplete();

		assertThat(subscriber.isTerminatedComplete()).isTrue();
		assertThat(idle.isDisposed()).isTrue();
		this.timers.advanceTimeBy(IDLE.multipliedBy(2));
		assertThat(subscriber.getReceivedOnNext()).hasSize(1);
	}

}
