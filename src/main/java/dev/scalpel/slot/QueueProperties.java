package dev.scalpel.slot;

import java.time.Duration;

import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;
import org.hibernate.validator.constraints.time.DurationMin;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * The wait queue in front of the slots ({@code scalpel.queue.*}).
 *
 * @param max how many streams may wait for a slot; a start that finds the queue full is refused
 *     with {@code 429}
 * @param timeout how long a stream may wait for a slot before it ends {@code failed/queue_timeout}
 * @param retryAfter the {@code Retry-After} hint sent with a {@code 429}
 */
@Validated
@ConfigurationProperties("scalpel.queue")
public record QueueProperties(
		@DefaultValue("256") @Min(0) @Max(1_000_000) int max,
		@DefaultValue("30s") @DurationMin(millis = 1) @NotNull Duration timeout,
		@DefaultValue("1s") @DurationMin(millis = 1) @NotNull Duration retryAfter) {
}
