package dev.scalpel.stream;

import java.util.Map;

import com.fasterxml.jackson.annotation.JsonInclude;
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

	/**
	 * Why a {@code failed} stream failed, safe to show to a client: never a key or a stack trace.
	 * @param type {@code upstream_error}, {@code timeout}, {@code queue_timeout}, {@code owner_lost} or
	 * {@code internal_error}
	 * @param message what happened, including the provider's own message when it sent one
	 * @param endpoint the provider endpoint involved, if any
	 * @param upstreamStatus the HTTP status the provider answered with, if it answered with an error
	 * @param upstreamType the provider's own error type (e.g. {@code rate_limit_error}), if it sent one
	 */
	@JsonInclude(JsonInclude.Include.NON_NULL)
	public record ErrorView(String type, String message, @Nullable String endpoint, @Nullable Integer upstreamStatus,
			@Nullable String upstreamType) {

		public ErrorView(String type, String message) {
			this(type, message, null, null, null);
		}

	}

}
