package dev.scalpel.slot;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** The replica's slot pool. */
@Configuration(proxyBeanMethods = false)
class SlotConfiguration {

	@Bean
	SlotPool slotPool(SlotProperties slots, QueueProperties queue) {
		return new SlotPool(slots.max(), queue.max(), queue.timeout());
	}

}
