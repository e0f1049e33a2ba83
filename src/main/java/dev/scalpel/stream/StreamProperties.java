package dev.scalpel.stream;

import java.time.Duration;

import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;
import org.hibernate.validator.constraints.time.DurationMin;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
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
 */
@Validated
@ConfigurationProperties("scalpel.streams")
public record StreamProperties(
		@DefaultValue("30s") @DurationMin(millis = 1) @NotNull Duration attachTimeout,
		@DefaultValue("0s") @DurationMin(millis = 0) @NotNull Duration disconnectGrace,
		@DefaultValue("10m") @DurationMin(millis = 1) @NotNull Duration retention,
		@DefaultValue("10000") @Min(16) @Max(10_000_000) int maxEvents,
		@DefaultValue("15s") @DurationMin(millis = 1) @NotNull Duration heartbeatInterval,
		@DefaultValue("20s") @DurationMin(millis = 1) @NotNull Duration drainTimeout) {
}
