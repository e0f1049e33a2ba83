package dev.scalpel.stream;

import java.util.Locale;

/** Why a stream reached its terminal status; each reason belongs to exactly one status. */
public enum FinishReason {

	/** The model finished. */
	STOP(StreamStatus.COMPLETED),
	/** The reply hit {@code max_tokens}. */
	LENGTH(StreamStatus.COMPLETED),
	/** The model finished by calling tools (OpenAI-compatible providers, through the OpenAI door). */
	TOOL_CALLS(StreamStatus.COMPLETED),
	/**
	 * The provider stopped the reply under its content policy (OpenAI's {@code content_filter},
	 * Anthropic's {@code refusal}): complete as the provider sent it, but cut.
	 */
	CONTENT_FILTER(StreamStatus.COMPLETED),
	/** The cancel endpoint was called. */
	CANCEL_REQUESTED(StreamStatus.CANCELLED),
	/** The last listener of a non-background stream left. */
	CLIENT_DISCONNECTED(StreamStatus.CANCELLED),
	/** Nobody attached to a non-background stream within the attach timeout. */
	NEVER_ATTACHED(StreamStatus.CANCELLED),
	/** The service stopped and the drain time ran out. */
	SHUTDOWN(StreamStatus.CANCELLED),
	/** The provider failed. */
	UPSTREAM_ERROR(StreamStatus.FAILED),
	/** The first token, the next token or the whole generation took too long. */
	TIMEOUT(StreamStatus.FAILED),
	/** No slot became free within the queue timeout. */
	QUEUE_TIMEOUT(StreamStatus.FAILED),
	/** Multi-replica mode: the replica running the stream died. */
	OWNER_LOST(StreamStatus.FAILED),
	/** A defect in Scalpel. */
	INTERNAL_ERROR(StreamStatus.FAILED);

	private final StreamStatus status;

	FinishReason(StreamStatus status) {
		this.status = status;
	}

	/** The reason for a provider's finish reason ({@code length}, ...); any other is a {@link #STOP}. */
	static FinishReason ofModel(String finish) {
		return switch (finish) {
			case "length" -> LENGTH;
			case "tool_calls" -> TOOL_CALLS;
			case "content_filter" -> CONTENT_FILTER;
			default -> STOP;
		};
	}

	/** The terminal status this reason ends a stream with. */
	public StreamStatus status() {
		return this.status;
	}

	/** The name on the wire, e.g. {@code cancel_requested}. */
	public String wireName() {
		return name().toLowerCase(Locale.ROOT);
	}

}
