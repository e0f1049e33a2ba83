package dev.scalpel.observe;

import java.time.Duration;

import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import dev.scalpel.stream.FinishReason;
import dev.scalpel.stream.StreamObserver;

/**
 * One log line per stream at INFO, when it ends; at DEBUG one per lifecycle transition (created,
 * started, first token, terminal), each with the stream id. At full speed every line is a real share
 * of a stream's cost, so only the one that tells how it ended is on by default (docs/benchmarks.md). The values are SLF4J key-value pairs too, so that Spring Boot's structured
 * logging ({@code logging.structured.format.console=ecs|logstash|gelf}) emits them as fields; the
 * plain-text default shows them in the message. Logger: {@code scalpel.streams}.
 */
public final class StreamLog implements StreamObserver {

	private static final Logger logger = LoggerFactory.getLogger("scalpel.streams");

	@Override
	public void created(String id, String model, boolean background) {
		if (logger.isDebugEnabled()) {
			logger.atDebug()
				.addKeyValue("stream_id", id)
				.addKeyValue("transition", "created")
				.addKeyValue("model", model)
				.addKeyValue("background", background)
				.log("Stream {} created (model {}, background {})", id, model, background);
		}
	}

	@Override
	public void started(String id, Duration waited) {
		if (logger.isDebugEnabled()) {
			logger.atDebug()
				.addKeyValue("stream_id", id)
				.addKeyValue("transition", "started")
				.addKeyValue("queue_wait_ms", waited.toMillis())
				.log("Stream {} started after waiting {} ms for a slot", id, waited.toMillis());
		}
	}

	@Override
	public void firstToken(String id, Duration sinceAsked) {
		if (logger.isDebugEnabled()) {
			logger.atDebug()
				.addKeyValue("stream_id", id)
				.addKeyValue("transition", "first_token")
				.addKeyValue("ttft_ms", sinceAsked.toMillis())
				.log("Stream {} sent its first token {} ms after asking for a slot", id, sinceAsked.toMillis());
		}
	}

	@Override
	public void ended(String id, FinishReason reason, Duration lifetime, @Nullable Duration ran,
			@Nullable Duration slotRelease) {
		if (logger.isInfoEnabled()) {
			String status = reason.status().wireName();
			Long ranMs = (ran != null) ? ran.toMillis() : null;
			Long releaseMicros = (slotRelease != null) ? slotRelease.toNanos() / 1_000 : null;
			logger.atInfo()
				.addKeyValue("stream_id", id)
				.addKeyValue("transition", status)
				.addKeyValue("finish_reason", reason.wireName())
				.addKeyValue("lifetime_ms", lifetime.toMillis())
				.addKeyValue("ran_ms", ranMs)
				.addKeyValue("slot_release_us", releaseMicros)
				.log("Stream {} {} ({}) after {} ms, ran {} ms, slot released in {} us", id, status, reason.wireName(),
						lifetime.toMillis(), ranMs, releaseMicros);
		}
	}

}
