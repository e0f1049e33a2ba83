package dev.scalpel.upstream;

import java.time.Duration;

import jakarta.validation.Valid;
import jakarta.validation.constraints.DecimalMax;
import jakarta.validation.constraints.DecimalMin;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;
import org.hibernate.validator.constraints.time.DurationMin;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;
import org.springframework.validation.annotation.Validated;

/**
 * How Scalpel calls its providers ({@code scalpel.upstream.*}). Every time limit ends the stream
 * {@code failed/timeout} with its slot freed and its upstream connection closed.
 *
 * @param connectTimeout the longest a TCP connection to a provider may take to open
 * @param firstTokenTimeout the longest wait from the start of the call (connecting and retries
 * included) to the first token
 * @param idleTimeout the longest wait between two tokens
 * @param maxDuration the longest a generation may run in all
 * @param maxLineSize the largest single line of a provider's event stream, or error body, that is read
 * @param idleConnectionTime how long an idle keep-alive connection to a provider stays in the pool
 * @param retry retries of a call the provider refused before its first token
 * @param circuitBreaker the circuit breaker of each endpoint
 */
@Validated
@ConfigurationProperties("scalpel.upstream")
public record UpstreamProperties(
		@DefaultValue("10s") @DurationMin(millis = 1) @NotNull Duration connectTimeout,
		@DefaultValue("60s") @DurationMin(millis = 1) @NotNull Duration firstTokenTimeout,
		@DefaultValue("30s") @DurationMin(millis = 1) @NotNull Duration idleTimeout,
		@DefaultValue("10m") @DurationMin(millis = 1) @NotNull Duration maxDuration,
		@DefaultValue("256KB") @NotNull DataSize maxLineSize,
		@DefaultValue("30s") @DurationMin(millis = 1) @NotNull Duration idleConnectionTime,
		@DefaultValue @Valid @NotNull Retry retry,
		@DefaultValue @Valid @NotNull CircuitBreaker circuitBreaker) {

	/** The defaults with other time limits for a generation (for code that builds its own settings). */
	public static UpstreamProperties withTimeouts(Duration firstTokenTimeout, Duration idleTimeout,
			Duration maxDuration) {
		return new UpstreamProperties(Duration.ofSeconds(10), firstTokenTimeout, idleTimeout, maxDuration,
				DataSize.ofKilobytes(256), Duration.ofSeconds(30), new Retry(3, Duration.ofMillis(250),
						Duration.ofSeconds(4), 0.5),
				new CircuitBreaker(50, 20, 10, Duration.ofSeconds(30), 3));
	}

	/** These settings with another retry policy. */
	public UpstreamProperties withRetry(Retry retry) {
		return new UpstreamProperties(this.connectTimeout, this.firstTokenTimeout, this.idleTimeout, this.maxDuration,
				this.maxLineSize, this.idleConnectionTime, retry, this.circuitBreaker);
	}

	/** These settings with another circuit breaker. */
	public UpstreamProperties withCircuitBreaker(CircuitBreaker circuitBreaker) {
		return new UpstreamProperties(this.connectTimeout, this.firstTokenTimeout, this.idleTimeout, this.maxDuration,
				this.maxLineSize, this.idleConnectionTime, this.retry, circuitBreaker);
	}

	/** These settings with another connect timeout. */
	public UpstreamProperties withConnectTimeout(Duration connectTimeout) {
		return new UpstreamProperties(connectTimeout, this.firstTokenTimeout, this.idleTimeout, this.maxDuration,
				this.maxLineSize, this.idleConnectionTime, this.retry, this.circuitBreaker);
	}

	/**
	 * A provider's {@code 429} or {@code 503} before the first token is retried; nothing is retried
	 * once a token has arrived. The wait before retry {@code n} is {@code initialBackoff * 2^(n-1)},
	 * at most {@code maxBackoff}, spread by {@code jitter}; a provider's {@code Retry-After} of at most
	 * {@code maxBackoff} is honoured instead.
	 *
	 * @param maxAttempts attempts in all, 1 turns retries off
	 * @param initialBackoff the wait before the first retry
	 * @param maxBackoff the longest wait between two attempts
	 * @param jitter the fraction (0 to 1) by which each wait is randomly shortened or lengthened
	 */
	public record Retry(
			@DefaultValue("3") @Min(1) @Max(10) int maxAttempts,
			@DefaultValue("250ms") @DurationMin(millis = 1) @NotNull Duration initialBackoff,
			@DefaultValue("4s") @DurationMin(millis = 1) @NotNull Duration maxBackoff,
			@DefaultValue("0.5") @DecimalMin("0") @DecimalMax("1") double jitter) {
	}

	/**
	 * Each endpoint's breaker counts the outcomes of its recent calls. A cancelled call (cancel, client
	 * disconnect, shutdown) is never counted as a failure; a call the client got wrong ({@code 400},
	 * {@code 404}, {@code 413}, {@code 422}) neither.
	 *
	 * @param failureRateThreshold the percentage of failed calls at which the breaker opens
	 * @param slidingWindowSize how many recent calls are counted
	 * @param minimumNumberOfCalls calls needed before the rate is judged
	 * @param waitDurationInOpenState how long starts are refused before trial calls are let through
	 * @param permittedCallsInHalfOpenState how many trial calls decide whether it closes again
	 */
	public record CircuitBreaker(
			@DefaultValue("50") @DecimalMin("1") @DecimalMax("100") float failureRateThreshold,
			@DefaultValue("20") @Min(1) @Max(10_000) int slidingWindowSize,
			@DefaultValue("10") @Min(1) @Max(10_000) int minimumNumberOfCalls,
			@DefaultValue("30s") @DurationMin(millis = 1) @NotNull Duration waitDurationInOpenState,
			@DefaultValue("3") @Min(1) @Max(1_000) int permittedCallsInHalfOpenState) {
	}

}
