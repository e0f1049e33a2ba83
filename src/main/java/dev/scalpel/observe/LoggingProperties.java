package dev.scalpel.observe;

import jakarta.validation.constraints.Min;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * How log lines are written ({@code scalpel.logging.*}); read by {@link AsyncLogging} while logging
 * starts, and bound here as well so that a wrong value fails the start with the usual message.
 *
 * @param async whether log lines are written by a thread of their own rather than by the thread
 *     that logs them (an event loop, for the lifecycle lines): a console that does not keep up then
 *     loses lines instead of stopping every stream on that loop
 * @param queueSize how many lines may wait to be written; when the queue is full, further lines are
 *     dropped and counted in {@code scalpel.log.dropped}
 */
@Validated
@ConfigurationProperties("scalpel.logging")
public record LoggingProperties(@DefaultValue("true") boolean async,
		@DefaultValue("8192") @Min(LoggingProperties.MIN_QUEUE_SIZE) int queueSize) {

	static final int MIN_QUEUE_SIZE = 1;

}
