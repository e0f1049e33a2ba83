package dev.scalpel.upstream;

import org.jspecify.annotations.Nullable;

/**
 * Tokens read and written by one generation.
 * @param inputTokens as the provider reported them, null when it did not
 * @param outputTokens as the provider reported them, else the tokens counted
 */
public record Usage(@Nullable Integer inputTokens, int outputTokens) {

}
