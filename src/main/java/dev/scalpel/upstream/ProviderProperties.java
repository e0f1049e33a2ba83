package dev.scalpel.upstream;

import java.time.Duration;

import jakarta.validation.Valid;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotNull;
import org.hibernate.validator.constraints.time.DurationMin;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * Models and providers ({@code scalpel.providers.*}).
 *
 * @param defaultModel the model of a request that names none
 * @param simulated the built-in {@code simulated} model
 */
@Validated
@ConfigurationProperties("scalpel.providers")
public record ProviderProperties(
		@DefaultValue("simulated") @NotBlank String defaultModel,
		@DefaultValue @Valid @NotNull Simulated simulated) {

	/**
	 * The built-in model: a deterministic reply that depends on the prompt, needing no key or server.
	 *
	 * @param replyTokens the length of its reply; a {@code max_tokens} below it ends with {@code length}
	 * @param tokensPerSecond the pace of its tokens
	 * @param firstTokenDelay the wait before its first token
	 */
	public record Simulated(
			@DefaultValue("48") @Min(1) @Max(1_000_000) int replyTokens,
			@DefaultValue("20") @Min(1) @Max(1_000_000) int tokensPerSecond,
			@DefaultValue("200ms") @DurationMin(millis = 0) @NotNull Duration firstTokenDelay) {
	}

}
