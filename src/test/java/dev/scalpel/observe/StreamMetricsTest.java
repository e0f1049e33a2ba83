package dev.scalpel.observe;

import java.time.Duration;
import java.util.EnumSet;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

import dev.scalpel.stream.FinishReason;

import static org.assertj.core.api.Assertions.assertThat;

class StreamMetricsTest {

	private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

	private final StreamMetrics metrics = new StreamMetrics(this.registry);

	@Test
	void aStreamThatEndedCallingToolsRecordsItsSlotReleaseAsAComplete() {
		this.metrics.ended("str_a", FinishReason.TOOL_CALLS, Duration.ofSeconds(2), Duration.ofSeconds(1),
				Duration.ofNanos(150_000));

		assertThat(releases("complete")).isEqualTo(1);
		assertThat(this.registry.get("scalpel.streams.finished").tag("reason", "tool_calls").counter().count())
			.isEqualTo(1);
	}

	@Test
	void aReleaseIsRecordedForEveryReasonAStreamCanEndWithWhileHoldingASlot() {
		EnumSet<FinishReason> withoutSlot = EnumSet.of(FinishReason.NEVER_ATTACHED, FinishReason.QUEUE_TIMEOUT);
		for (FinishReason reason : FinishReason.values()) {
			String trigger = StreamMetrics.trigger(reason);
			if (withoutSlot.contains(reason)) {
				assertThat(trigger).as(reason.name()).isNull();
				continue;
			}
			assertThat(StreamMetrics.TRIGGERS).as(reason.name()).contains(trigger);
			long before = releases(trigger);
			this.metrics.ended("str_" + reason.name(), reason, Duration.ofSeconds(1), Duration.ofSeconds(1),
					Duration.ofNanos(80_000));
			assertThat(releases(trigger)).as(reason.name()).isEqualTo(before + 1);
		}
		assertThat(this.registry.get("scalpel.slot.release").timers()).hasSize(StreamMetrics.TRIGGERS.size());
	}

	@Test
	void aDroppedListenerIsCounted() {
		this.metrics.listenerDropped("str_a");
		this.metrics.listenerDropped("str_b");

		assertThat(this.registry.get("scalpel.listeners.dropped").counter().count()).isEqualTo(2);
	}

	private long releases(String trigger) {
		return this.registry.get("scalpel.slot.release").tag("trigger", trigger).timer().count();
	}

}
