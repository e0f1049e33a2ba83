package dev.scalpel.observe;

import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;

import dev.scalpel.slot.SlotPool;

/**
 * Slot usage as a health detail, in the readiness group. Busy slots are normal and stay {@code UP};
 * a full wait queue is {@code OUT_OF_SERVICE}, a documented choice: this instance would refuse every
 * new start, so traffic is better sent to another replica until the queue moves. Never part of
 * liveness: exhausted slots are no reason to restart the process.
 */
final class SlotsHealthIndicator implements HealthIndicator {

	private final SlotPool slots;

	SlotsHealthIndicator(SlotPool slots) {
		this.slots = slots;
	}

	@Override
	public Health health() {
		Health.Builder health = this.slots.full() ? Health.outOfService() : Health.up();
		return health.withDetail("capacity", this.slots.capacity())
			.withDetail("in_use", this.slots.inUse())
			.withDetail("queued", this.slots.queued())
			.withDetail("queue_max", this.slots.queueMax())
			.build();
	}

}
