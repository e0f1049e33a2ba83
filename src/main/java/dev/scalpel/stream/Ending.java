package dev.scalpel.stream;

import org.jspecify.annotations.Nullable;

import dev.scalpel.upstream.Usage;

/**
 * How a stream ends: its reason, and what its terminal status shows with it. A failure's error is
 * typed by its reason's wire name ({@code timeout}, {@code upstream_error}, ...), written once here.
 * @param reason why it ended; its status is the terminal status
 * @param error why it failed, safe to show; null unless it failed
 * @param usage the provider's token counts, when it sent them
 */
record Ending(FinishReason reason, StreamView.@Nullable ErrorView error, @Nullable Usage usage) {

	/** An end without an error or usage: a cancel, or a completion whose provider counted nothing. */
	static Ending of(FinishReason reason) {
		return new Ending(reason, null, null);
	}

	/** A completion with the provider's usage, if it reported one. */
	static Ending finished(FinishReason reason, @Nullable Usage usage) {
		return new Ending(reason, null, usage);
	}

	/** A failure, its error typed by its reason. */
	static Ending failed(FinishReason reason, String message) {
		return failed(reason, message, null, null, null);
	}

	/** A failure, its error typed by its reason, with what the provider said. */
	static Ending failed(FinishReason reason, String message, @Nullable String endpoint,
			@Nullable Integer upstreamStatus, @Nullable String upstreamType) {
		return new Ending(reason,
				new StreamView.ErrorView(reason.wireName(), message, endpoint, upstreamStatus, upstreamType), null);
	}

}
