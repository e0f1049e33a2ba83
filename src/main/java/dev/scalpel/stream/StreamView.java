package dev.scalpel.stream;

import java.util.Map;

import org.jspecify.annotations.Nullable;

/**
 * The status object of a stream, as API.md specifies it (snake_case on the wire). Timestamps are
 * ISO-8601 UTC with milliseconds.
 */
public record StreamView(String id, String object, String status, String model, boolean background,
		String createdAt, @Nullable String startedAt, @Nullable String firstTokenAt, @Nullable String endedAt,
		@Nullable String cancelledAt, @Nullable String finishReason, @Nullable Integer queuePosition,
		long lastEventId, UsageView usage, @Nullable ErrorView error, Map<String, String> metadata) {

	/**
	 * Tokens of the stream so far.
	 * @param inputTokens as the provider reported them, null until it has
	 * @param outputTokens tokens generated so far
	 */
	public record UsageView(@Nullable Integer inputTokens, int outputTokens) {
	}

	/** Why a {@code failed} stream failed, safe to show to a client. */
	public record ErrorView(String type, String message) {
	}

}
