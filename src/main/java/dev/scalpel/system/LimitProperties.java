package dev.scalpel.system;

import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;
import org.springframework.validation.annotation.Validated;

/**
 * Input limits ({@code scalpel.limits.*}). A request over a limit is refused with a problem detail
 * and changes nothing.
 *
 * @param maxTokens the largest {@code max_tokens} a request may ask for
 * @param maxMessages the most messages in one request ({@code 413} above it)
 * @param maxPromptChars the most characters of message content in one request ({@code 413} above it)
 * @param maxBodySize the largest request body ({@code 413} above it)
 * @param maxJsonDepth the deepest nesting of JSON arrays and objects in a body
 */
@Validated
@ConfigurationProperties("scalpel.limits")
public record LimitProperties(
		@DefaultValue("4096") @Min(1) @Max(10_000_000) int maxTokens,
		@DefaultValue("256") @Min(1) @Max(100_000) int maxMessages,
		@DefaultValue("200000") @Min(1) @Max(100_000_000) int maxPromptChars,
		@DefaultValue("1MB") @NotNull DataSize maxBodySize,
		@DefaultValue("32") @Min(4) @Max(1000) int maxJsonDepth) {
}
