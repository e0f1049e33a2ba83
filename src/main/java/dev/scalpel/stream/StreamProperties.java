package dev.scalpel.stream;

import java.time.Duration;

import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;
import org.hibernate.validator.constraints.time.DurationMin;
import org.jspecify.annotations.Nullable;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.ConstructorBinding;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;
import org.springframework.validation.annotation.Validated;

/**
 * Lifecycle of streams ({@code scalpel.streams.*}).
 *
 * @param attachTimeout how long a non-background stream started without a listener waits for one
 *     before it ends {@code cancelled/never_attached}
 * @param disconnectGrace how long a non-background stream survives without listeners before it
 *     ends {@code cancelled/client_disconnected}; zero cancels at once
 * @param retention how long a terminal stream stays findable (status and replay)
 * @param maxEvents the most events retained per stream for replay; older ones answer {@code 410}
 * @param heartbeatInterval how often a quiet SSE response gets a {@code : keep-alive} comment
 * @param drainTimeout how long running streams may go on when the service stops, before they end
 *     {@code cancelled/shutdown}
 * @param retentionMemory the most heap that ended streams keep for their retention (events, prompt,
 *     status; an estimate); unset, a quarter of the heap. Past three quarters of it, the oldest ended
 *     streams let go of their events and prompt: their status still answers, replaying them answers
 *     {@code 410}. Those have the last quarter; past it, the oldest are forgotten before their
 *     retention ends.
 */
@Validated
@ConfigurationProperties("scalpel.streams")
public record StreamProperties(
		@DefaultValue("30s") @DurationMin(millis = 1) @NotNull Duration attachTimeout,
		@DefaultValue("0s") @DurationMin(millis = 0) @NotNull Duration disconnectGrace,
		@DefaultValue("10m") @DurationMin(millis = 1) @NotNull Duration retention,
		@DefaultValue("10000") @Min(16) @Max(10_000_000) int maxEvents,
		@DefaultValue("15s") @DurationMin(millis = 1) @NotNull Duration heartbeatInterval,
		@DefaultValue("20s") @DurationMin(millis = 1) @NotNull Duration drainTimeout,
		@Nullable DataSize retentionMemory) {

	@ConstructorBinding
	public StreamProperties {
	}

	/** The settings without a retention memory of their own (a quarter of the heap). */
	public StreamProperties(Duration attachTimeout, Duration disconnectGrace, Duration retention, int maxEvents,
			Duration heartbeatInterval, Duration drainTimeout) {
		this(attachTimeout, disconnectGrace, retention, maxEvents, heartbeatInterval, drainTimeout, null);
	}

	/** The bytes ended streams may keep: {@link #retentionMemory}, or a quarter of the heap. */
	public long retentionBytes() {
		return (this.retentionMemory != null) ? this.retentionMemory.toBytes() : Runtime.getRuntime().maxMemory() / 4;
	}

}
