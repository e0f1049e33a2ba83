package dev.scalpel.upstream;

import java.time.Duration;

import jakarta.validation.constraints.NotNull;
import org.hibernate.validator.constraints.time.DurationMin;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * Time limits of one upstream generation ({@code scalpel.upstream.*}); each ends the stream
 * {@code failed/timeout} with its slot freed and its upstream call closed.
 *
 * @param firstTokenTimeout the longest wait from the start of the call to the first token
 * @param idleTimeout the longest wait between two tokens
 * @param maxDuration the longest a generation may run in all
 */
@Validated
@ConfigurationProperties("scalpel.upstream")
public record UpstreamProperties(
		@DefaultValue("60s") @DurationMin(millis = 1) @NotNull Duration firstTokenTimeout,
		@DefaultValue("30s") @DurationMin(millis = 1) @NotNull Duration idleTimeout,
		@DefaultValue("10m") @DurationMin(millis = 1) @NotNull Duration maxDuration) {
}
