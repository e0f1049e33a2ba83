package dev.scalpel.system;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.Test;
import reactor.core.publisher.Sinks;
import reactor.test.StepVerifier;

/**
 * API.md: "While a stream is live and quiet, the server writes an SSE comment line every
 * heartbeat-interval". In virtual time: no comment while frames come more often than the interval,
 * one every interval once they stop (the first one to two intervals after the last frame), none
 * after the frames end.
 */
class EventStreamHeartbeatTest {

	private static final Duration HEARTBEAT = Duration.ofSeconds(15);

	private static final String KEEP_ALIVE = ": keep-alive\n\n";

	@Test
	void keepAliveCommentsComeOnlyWhileTheStreamIsQuiet() {
		Sinks.Many<byte[]> frames = Sinks.many().unicast().onBackpressureBuffer();
		StepVerifier.Step<String> step = StepVerifier
			.withVirtualTime(() -> EventStream.withHeartbeats(frames.asFlux(), HEARTBEAT)
				.frames()
				.map(frame -> new String(frame, StandardCharsets.UTF_8)))
			.expectSubscription()
			.then(() -> frames.tryEmitNext(frame("a")))
			.expectNext("a");
		// A frame every 10 s for 50 s: busy, so no comment though three ticks pass.
		for (String next : List.of("b", "c", "d", "e", "f")) {
			step = step.thenAwait(Duration.ofSeconds(10)).then(() -> frames.tryEmitNext(frame(next))).expectNext(next);
		}
		// t = 50 s, the last frame. The tick at 60 s sees it; the one at 75 s sees none since: the first
		// comment, 25 s after the last frame; then one every 15 s.
		step.expectNoEvent(Duration.ofSeconds(24))
			.thenAwait(Duration.ofSeconds(1))
			.expectNext(KEEP_ALIVE)
			.expectNoEvent(Duration.ofSeconds(14))
			.thenAwait(Duration.ofSeconds(1))
			.expectNext(KEEP_ALIVE)
			.then(() -> frames.tryEmitNext(frame("g")))
			.expectNext("g")
			.then(frames::tryEmitComplete)
			.expectComplete()
			.verify(Duration.ofSeconds(5));
	}

	private static byte[] frame(String text) {
		return text.getBytes(StandardCharsets.UTF_8);
	}

}
