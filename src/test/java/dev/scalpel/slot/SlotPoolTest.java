package dev.scalpel.slot;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Mono;
import reactor.test.StepVerifier;
import reactor.test.scheduler.VirtualTimeScheduler;
import reactor.test.subscriber.TestSubscriber;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;
import static org.assertj.core.api.Assertions.assertThatNoException;

/**
 * Proves the single-threaded contract of {@link SlotPool}: a free slot is granted at once, waiters
 * are served in arrival order, a full queue is refused synchronously, a queued waiter times out
 * (virtual time) or leaves at once when cancelled, a permit granted to a waiter that is cancelled
 * before it saw the permit goes to the next waiter, {@link Permit#release()} frees one slot however
 * often it is called, and position listeners hear the join position and every improvement. It also
 * proves that neither a position listener that throws nor a timer that refuses the queue timeout can
 * cost a slot or break another stream's release.
 */
class SlotPoolTest {

	private static final Duration WAIT = Duration.ofSeconds(5);

	private static final Duration QUEUE_TIMEOUT = Duration.ofSeconds(10);

	private final VirtualTimeScheduler timer = VirtualTimeScheduler.create();

	@AfterEach
	void disposeTimer() {
		this.timer.dispose();
	}

	@Test
	void grantsAPermitAtOnceWhileASlotIsFree() {
		SlotPool pool = pool(2, 4);

		StepVerifier.create(pool.acquire())
			.assertNext((permit) -> assertThat(permit.released()).isFalse())
			.expectComplete()
			.verify(WAIT);

		assertThat(pool.inUse()).isEqualTo(1);
		assertThat(pool.queued()).isZero();
		assertThat(pool.full()).isFalse();
	}

	@Test
	void grantsEverySlotBeforeQueueingAnyone() {
		SlotPool pool = pool(3, 4);

		List<Permit> held = List.of(grant(pool), grant(pool), grant(pool));

		assertThat(held).doesNotHaveDuplicates();
		assertThat(pool.inUse()).isEqualTo(3);
		assertThat(pool.queued()).isZero();
	}

	@Test
	void aRequestThatFindsEverySlotHeldWaitsInTheQueue() {
		SlotPool pool = pool(1, 4);
		grant(pool);

		TestSubscriber<Permit> waiter = subscribe(pool.acquire());

		assertThat(waiter.isTerminatedOrCancelled()).isFalse();
		assertThat(waiter.getReceivedOnNext()).isEmpty();
		assertThat(pool.queued()).isEqualTo(1);
		assertThat(pool.inUse()).isEqualTo(1);
	}

	@Test
	void grantsWaitersInArrivalOrderAsSlotsAreReleased() {
		SlotPool pool = pool(2, 4);
		Permit first = grant(pool);
		Permit second = grant(pool);
		List<String> grants = new ArrayList<>();
		List<Permit> granted = new ArrayList<>();
		for (String name : List.of("a", "b", "c", "d")) {
			pool.acquire().subscribe((permit) -> {
				grants.add(name);
				granted.add(permit);
			});
		}
		assertThat(pool.queued()).isEqualTo(4);

		second.release();
		assertThat(grants).containsExactly("a");
		first.release();
		assertThat(grants).containsExactly("a", "b");
		granted.get(1).release();
		assertThat(grants).containsExactly("a", "b", "c");
		granted.get(0).release();

		assertThat(grants).containsExactly("a", "b", "c", "d");
		assertThat(pool.queued()).isZero();
		assertThat(pool.inUse()).isEqualTo(2);
	}

	@Test
	void releasingTheLastPermitWithNobodyWaitingFreesTheSlot() {
		SlotPool pool = pool(1, 4);
		Permit permit = grant(pool);

		permit.release();

		assertThat(permit.released()).isTrue();
		assertThat(pool.inUse()).isZero();
		StepVerifier.create(pool.acquire()).expectNextCount(1).expectComplete().verify(WAIT);
	}

	@Test
	void aFullQueueIsRefusedWithQueueFullWhileSubscribing() {
		SlotPool pool = pool(1, 2);
		grant(pool);
		subscribe(pool.acquire());
		subscribe(pool.acquire());
		assertThat(pool.full()).isTrue();
		List<Integer> positions = new ArrayList<>();
		AtomicReference<Thread> failedIn = new AtomicReference<>();

		TestSubscriber<Permit> refused = subscribe(
				pool.acquire(positions::add).doOnError((ex) -> failedIn.set(Thread.currentThread())));

		// Checked right after subscribe() returned, without waiting: the refusal is synchronous.
		assertThat(refused.isTerminatedError()).isTrue();
		assertThat(refused.expectTerminalError()).isInstanceOf(QueueFull.class)
			.hasMessageContaining("2 waiting");
		assertThat(failedIn.get()).isSameAs(Thread.currentThread());
		assertThat(positions).isEmpty();
		assertThat(pool.queued()).isEqualTo(2);
		assertThat(pool.inUse()).isEqualTo(1);
	}

	@Test
	void aRefusedRequestNeverGetsASlotLater() {
		SlotPool pool = pool(1, 1);
		Permit holder = grant(pool);
		TestSubscriber<Permit> waiter = subscribe(pool.acquire());

		StepVerifier.create(pool.acquire()).expectError(QueueFull.class).verify(WAIT);
		holder.release();

		assertThat(waiter.getReceivedOnNext()).hasSize(1);
		assertThat(pool.inUse()).isEqualTo(1);
		assertThat(pool.queued()).isZero();
	}

	@Test
	void aPoolWithoutAQueueRefusesAsSoonAsEverySlotIsHeld() {
		SlotPool pool = pool(1, 0);
		grant(pool);

		assertThat(pool.full()).isTrue();
		StepVerifier.create(pool.acquire()).expectError(QueueFull.class).verify(WAIT);
		assertThat(pool.queued()).isZero();
	}

	@Test
	void aWaiterFailsWithQueueTimeoutAfterTheQueueTimeoutAndLeavesTheQueue() {
		SlotPool pool = pool(1, 4);
		Permit holder = grant(pool);

		StepVerifier.create(pool.acquire())
			.expectSubscription()
			.then(() -> this.timer.advanceTimeBy(QUEUE_TIMEOUT.minusMillis(1)))
			.then(() -> assertThat(pool.queued()).isEqualTo(1))
			.then(() -> this.timer.advanceTimeBy(Duration.ofMillis(1)))
			.expectErrorSatisfies((ex) -> assertThat(ex).isInstanceOf(QueueTimeout.class)
				.hasMessageContaining(QUEUE_TIMEOUT.toString()))
			.verify(WAIT);

		assertThat(pool.queued()).isZero();
		assertThat(pool.inUse()).isEqualTo(1);
		holder.release();
		assertThat(pool.inUse()).isZero();
	}

	@Test
	void afterAQueueTimeoutTheNextReleaseGoesToTheWaiterBehind() {
		SlotPool pool = pool(1, 4);
		Permit holder = grant(pool);
		TestSubscriber<Permit> early = subscribe(pool.acquire());
		this.timer.advanceTimeBy(Duration.ofSeconds(4));
		List<Integer> positions = new ArrayList<>();
		TestSubscriber<Permit> late = subscribe(pool.acquire(positions::add));

		this.timer.advanceTimeBy(Duration.ofSeconds(6));

		assertThat(early.expectTerminalError()).isInstanceOf(QueueTimeout.class);
		assertThat(positions).containsExactly(2, 1);
		assertThat(pool.queued()).isEqualTo(1);
		holder.release();
		assertThat(late.getReceivedOnNext()).hasSize(1);
		assertThat(late.isTerminatedComplete()).isTrue();
		assertThat(pool.inUse()).isEqualTo(1);
		assertThat(pool.queued()).isZero();
	}

	@Test
	void aWaiterGrantedBeforeTheQueueTimeoutKeepsItsPermitAfterwards() {
		SlotPool pool = pool(1, 4);
		Permit holder = grant(pool);
		TestSubscriber<Permit> waiter = subscribe(pool.acquire());
		this.timer.advanceTimeBy(Duration.ofSeconds(5));

		holder.release();
		this.timer.advanceTimeBy(QUEUE_TIMEOUT.multipliedBy(2));

		assertThat(waiter.isTerminatedComplete()).isTrue();
		assertThat(waiter.getReceivedOnNext()).hasSize(1);
		assertThat(waiter.getReceivedOnNext().get(0).released()).isFalse();
		assertThat(pool.inUse()).isEqualTo(1);
	}

	@Test
	void cancellingAWaiterRemovesItAtOnceAndMovesUpThoseBehind() {
		SlotPool pool = pool(1, 4);
		Permit holder = grant(pool);
		List<Integer> aheadPositions = new ArrayList<>();
		List<Integer> middlePositions = new ArrayList<>();
		List<Integer> lastPositions = new ArrayList<>();
		TestSubscriber<Permit> ahead = subscribe(pool.acquire(aheadPositions::add));
		TestSubscriber<Permit> middle = subscribe(pool.acquire(middlePositions::add));
		TestSubscriber<Permit> last = subscribe(pool.acquire(lastPositions::add));

		middle.cancel();

		assertThat(pool.queued()).isEqualTo(2);
		assertThat(aheadPositions).containsExactly(1);
		assertThat(middlePositions).containsExactly(2);
		assertThat(lastPositions).containsExactly(3, 2);
		ahead.cancel();
		assertThat(pool.queued()).isEqualTo(1);
		assertThat(lastPositions).containsExactly(3, 2, 1);
		holder.release();
		assertThat(last.getReceivedOnNext()).hasSize(1);
		assertThat(ahead.getReceivedOnNext()).isEmpty();
		assertThat(middle.getReceivedOnNext()).isEmpty();
		assertThat(pool.inUse()).isEqualTo(1);
	}

	@Test
	void aCancelledWaiterNeverTimesOut() {
		SlotPool pool = pool(1, 4);
		grant(pool);
		TestSubscriber<Permit> waiter = subscribe(pool.acquire());

		waiter.cancel();
		this.timer.advanceTimeBy(QUEUE_TIMEOUT.multipliedBy(2));

		assertThat(waiter.isCancelled()).isTrue();
		assertThat(waiter.isTerminated()).isFalse();
		assertThat(pool.queued()).isZero();
	}

	@Test
	void aPermitGrantedToAWaiterThatIsCancelledBeforeSeeingItGoesToTheNextWaiter() {
		SlotPool pool = pool(1, 4);
		Permit holder = grant(pool);
		// No demand yet: the grant is parked in the sink, the subscriber has not seen it.
		TestSubscriber<Permit> slow = TestSubscriber.builder().initialRequest(0).build();
		pool.acquire().subscribe(slow);
		TestSubscriber<Permit> next = subscribe(pool.acquire());
		holder.release();
		assertThat(slow.getReceivedOnNext()).isEmpty();
		assertThat(next.getReceivedOnNext()).isEmpty();

		slow.cancel();

		assertThat(slow.getReceivedOnNext()).isEmpty();
		assertThat(next.getReceivedOnNext()).hasSize(1);
		assertThat(pool.inUse()).isEqualTo(1);
		assertThat(pool.queued()).isZero();
	}

	@Test
	void aPermitGrantedAtOnceToASubscriberThatCancelsBeforeSeeingItFreesTheSlot() {
		SlotPool pool = pool(1, 4);
		TestSubscriber<Permit> slow = TestSubscriber.builder().initialRequest(0).build();
		pool.acquire().subscribe(slow);
		assertThat(pool.inUse()).isEqualTo(1);

		slow.cancel();

		assertThat(slow.getReceivedOnNext()).isEmpty();
		assertThat(pool.inUse()).isZero();
	}

	@Test
	void cancellingAfterThePermitArrivedLeavesItWithTheHolder() {
		SlotPool pool = pool(1, 4);
		TestSubscriber<Permit> holder = subscribe(pool.acquire());

		holder.cancel();

		assertThat(holder.getReceivedOnNext()).hasSize(1);
		assertThat(holder.getReceivedOnNext().get(0).released()).isFalse();
		assertThat(pool.inUse()).isEqualTo(1);
	}

	@Test
	void releasingTwiceFreesOneSlotOnly() {
		SlotPool pool = pool(2, 4);
		Permit permit = grant(pool);

		permit.release();
		permit.release();

		assertThat(permit.released()).isTrue();
		assertThat(pool.inUse()).isZero();
		grant(pool);
		grant(pool);
		// Had the second release freed a phantom slot, this request would be granted as well.
		TestSubscriber<Permit> third = subscribe(pool.acquire());
		assertThat(third.getReceivedOnNext()).isEmpty();
		assertThat(pool.queued()).isEqualTo(1);
	}

	@Test
	void releasingTwiceHandsOnlyOneSlotToTheWaiters() {
		SlotPool pool = pool(1, 4);
		Permit holder = grant(pool);
		TestSubscriber<Permit> first = subscribe(pool.acquire());
		TestSubscriber<Permit> second = subscribe(pool.acquire());

		holder.release();
		holder.release();

		assertThat(first.getReceivedOnNext()).hasSize(1);
		assertThat(second.getReceivedOnNext()).isEmpty();
		assertThat(pool.queued()).isEqualTo(1);
		assertThat(pool.inUse()).isEqualTo(1);
	}

	@Test
	void listenersHearTheJoinPositionAndEachImprovement() {
		SlotPool pool = pool(1, 4);
		Permit holder = grant(pool);
		List<Integer> first = new ArrayList<>();
		List<Integer> second = new ArrayList<>();
		List<Integer> third = new ArrayList<>();
		TestSubscriber<Permit> firstWaiter = subscribe(pool.acquire(first::add));
		subscribe(pool.acquire(second::add));
		subscribe(pool.acquire(third::add));
		assertThat(first).containsExactly(1);
		assertThat(second).containsExactly(2);
		assertThat(third).containsExactly(3);

		holder.release();
		assertThat(first).containsExactly(1);
		assertThat(second).containsExactly(2, 1);
		assertThat(third).containsExactly(3, 2);

		firstWaiter.getReceivedOnNext().get(0).release();
		assertThat(first).containsExactly(1);
		assertThat(second).containsExactly(2, 1);
		assertThat(third).containsExactly(3, 2, 1);
	}

	@Test
	void aRequestGrantedAtOnceHearsNoPosition() {
		SlotPool pool = pool(1, 4);
		List<Integer> positions = new ArrayList<>();

		StepVerifier.create(pool.acquire(positions::add)).expectNextCount(1).expectComplete().verify(WAIT);

		assertThat(positions).isEmpty();
	}

	@Test
	void fullOnlyWhenEverySlotIsHeldAndTheQueueIsAtItsBound() {
		SlotPool pool = pool(1, 1);
		assertThat(pool.full()).isFalse();
		grant(pool);
		assertThat(pool.full()).isFalse();

		TestSubscriber<Permit> waiter = subscribe(pool.acquire());
		assertThat(pool.full()).isTrue();

		waiter.cancel();
		assertThat(pool.full()).isFalse();
	}

	@Test
	void capacityAndQueueMaxReportTheConfiguration() {
		SlotPool pool = new SlotPool(3, 7, QUEUE_TIMEOUT);

		assertThat(pool.capacity()).isEqualTo(3);
		assertThat(pool.queueMax()).isEqualTo(7);
		assertThat(pool.inUse()).isZero();
		assertThat(pool.queued()).isZero();
	}

	@Test
	void capacityMustBeAtLeastOne() {
		assertThatIllegalArgumentException().isThrownBy(() -> new SlotPool(0, 1, QUEUE_TIMEOUT))
			.withMessageContaining("capacity");
		assertThatIllegalArgumentException().isThrownBy(() -> new SlotPool(-1, 1, QUEUE_TIMEOUT, this.timer))
			.withMessageContaining("capacity");
	}

	@Test
	void queueMaxMustNotBeNegative() {
		assertThatIllegalArgumentException().isThrownBy(() -> new SlotPool(1, -1, QUEUE_TIMEOUT))
			.withMessageContaining("queueMax");
		assertThatIllegalArgumentException().isThrownBy(() -> new SlotPool(1, -1, QUEUE_TIMEOUT, this.timer))
			.withMessageContaining("queueMax");
	}

	@Test
	void theSmallestPoolIsAccepted() {
		assertThatNoException().isThrownBy(() -> new SlotPool(1, 0, QUEUE_TIMEOUT));
	}

	@Test
	void aPositionListenerThatThrowsOnJoinCostsNoSlot() {
		SlotPool pool = pool(1, 4);
		Permit holder = grant(pool);
		TestSubscriber<Permit> throwing = subscribe(pool.acquire((position) -> {
			throw new IllegalStateException("listener gone");
		}));

		holder.release();
		throwing.getReceivedOnNext().forEach(Permit::release);

		// Whether the request failed or carried on without its listener, the freed slot must not vanish
		// into a waiter whose subscriber has already been told it failed.
		assertThat(pool.inUse()).as("slots held once every permit that reached a subscriber is released")
			.isZero();
		assertThat(pool.queued()).isZero();
	}

	@Test
	void aPositionListenerThatThrowsOnAnImprovementBreaksNeitherTheReleaseNorTheOtherListeners() {
		SlotPool pool = pool(1, 4);
		Permit holder = grant(pool);
		subscribe(pool.acquire());
		subscribe(pool.acquire((position) -> {
			if (position < 2) {
				throw new IllegalStateException("listener gone");
			}
		}));
		List<Integer> last = new ArrayList<>();
		subscribe(pool.acquire(last::add));

		assertThatNoException().as("releasing a permit").isThrownBy(holder::release);

		assertThat(last).containsExactly(3, 2);
		assertThat(pool.inUse()).isEqualTo(1);
		assertThat(pool.queued()).isEqualTo(2);
	}

	@Test
	void aTimerThatRejectsTheQueueTimeoutCostsNoSlot() {
		VirtualTimeScheduler stopped = VirtualTimeScheduler.create();
		stopped.dispose();
		SlotPool pool = new SlotPool(1, 4, QUEUE_TIMEOUT, stopped);
		Permit holder = grant(pool);
		TestSubscriber<Permit> waiter = subscribe(pool.acquire());

		holder.release();
		waiter.getReceivedOnNext().forEach(Permit::release);

		// Whether the request failed or waited without a limit, the freed slot must not vanish into a
		// waiter whose subscriber has already been told it failed.
		assertThat(pool.inUse()).as("slots held once every permit that reached a subscriber is released")
			.isZero();
		assertThat(pool.queued()).isZero();
	}

	private SlotPool pool(int capacity, int queueMax) {
		return new SlotPool(capacity, queueMax, QUEUE_TIMEOUT, this.timer);
	}

	/** A permit from a pool with a free slot; the grant is synchronous. */
	private static Permit grant(SlotPool pool) {
		TestSubscriber<Permit> holder = subscribe(pool.acquire());
		assertThat(holder.getReceivedOnNext()).as("granted at once").hasSize(1);
		return holder.getReceivedOnNext().get(0);
	}

	private static TestSubscriber<Permit> subscribe(Mono<Permit> acquisition) {
		TestSubscriber<Permit> subscriber = TestSubscriber.create();
		acquisition.subscribe(subscriber);
		return subscriber;
	}

}
