package dev.scalpel.stream;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.Map;

import org.jspecify.annotations.Nullable;

import dev.scalpel.upstream.Usage;

/**
 * What a stream's status object shows besides its status (API.md): its times, reason, queue
 * position, usage and error, and the object written from them. Guarded by its stream's monitor.
 */
final class StatusRecord {

	private static final DateTimeFormatter TIMESTAMP = DateTimeFormatter
		.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")
		.withZone(ZoneOffset.UTC);

	private final String id;

	private final String model;

	private final boolean background;

	private final Instant createdAt;

	private final Map<String, String> metadata;

	private @Nullable FinishReason finishReason;

	private @Nullable Instant startedAt;

	private @Nullable Instant firstTokenAt;

	private @Nullable Instant endedAt;

	private @Nullable Instant cancelledAt;

	private @Nullable Integer queuePosition;

	private @Nullable Integer inputTokens;

	private int outputTokens;

	private StreamView.@Nullable ErrorView error;

	StatusRecord(String id, String model, boolean background, Instant createdAt, Map<String, String> metadata) {
		this.id = id;
		this.model = model;
		this.background = background;
		this.createdAt = createdAt.truncatedTo(ChronoUnit.MILLIS);
		this.metadata = Map.copyOf(metadata);
	}

	String model() {
		return this.model;
	}

	Instant createdAt() {
		return this.createdAt;
	}

	int outputTokens() {
		return this.outputTokens;
	}

	boolean hasFirstToken() {
		return this.firstTokenAt != null;
	}

	/** Takes a better queue position; false for a stale one no better than the last. */
	boolean queued(int position) {
		if (this.queuePosition != null && position >= this.queuePosition) {
			return false;
		}
		this.queuePosition = position;
		return true;
	}

	void started(Instant now, @Nullable Integer promptTokens) {
		this.inputTokens = promptTokens;
		this.startedAt = now.truncatedTo(ChronoUnit.MILLIS);
		this.queuePosition = null;
	}

	/** Counts one piece of output; whether it was the first. */
	boolean output(Instant now) {
		boolean first = this.firstTokenAt == null;
		if (first) {
			this.firstTokenAt = now.truncatedTo(ChronoUnit.MILLIS);
		}
		this.outputTokens++;
		return first;
	}

	void ended(Ending ending, Instant now) {
		FinishReason reason = ending.reason();
		this.finishReason = reason;
		this.endedAt = now.truncatedTo(ChronoUnit.MILLIS);
		if (reason.status() == StreamStatus.CANCELLED) {
			this.cancelledAt = this.endedAt;
		}
		this.error = ending.error();
		this.queuePosition = null;
		Usage usage = ending.usage();
		if (usage != null) {
			if (usage.inputTokens() != null) {
				this.inputTokens = usage.inputTokens();
			}
			// The provider's count when it reported one, else the tokens the source counted.
			this.outputTokens = usage.outputTokens();
		}
	}

	/** About how many bytes of heap the status holds with its metadata (an estimate). */
	long weight(String owner) {
		return RetainedWeight.ofStatus(this.id, this.model, owner, this.metadata);
	}

	/** The status object; {@code lastEventId} is the newest event's id, or the one about to be appended. */
	StreamView view(StreamStatus status, long lastEventId) {
		return new StreamView(this.id, "stream", status.wireName(), this.model, this.background,
				format(this.createdAt), format(this.startedAt), format(this.firstTokenAt), format(this.endedAt),
				format(this.cancelledAt), (this.finishReason != null) ? this.finishReason.wireName() : null,
				this.queuePosition, lastEventId, new StreamView.UsageView(this.inputTokens, this.outputTokens),
				this.error, this.metadata);
	}

	private static @Nullable String format(@Nullable Instant instant) {
		return (instant != null) ? TIMESTAMP.format(instant) : null;
	}

}
