package dev.scalpel.observe;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

import dev.scalpel.stream.FinishReason;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * One log line per stream at INFO, when it ends; one per lifecycle transition at DEBUG; each with the
 * stream id in the message and as a key-value pair (which structured logging turns into a field).
 */
class StreamLogTest {

	private final Logger logger = (Logger) LoggerFactory.getLogger("scalpel.streams");

	private final ListAppender<ILoggingEvent> lines = new ListAppender<>();

	private Level level;

	@BeforeEach
	void capture() {
		this.level = this.logger.getLevel();
		this.logger.setLevel(Level.INFO);
		this.lines.start();
		this.logger.addAppender(this.lines);
	}

	@AfterEach
	void release() {
		this.logger.detachAppender(this.lines);
		this.logger.setLevel(this.level);
	}

	@Test
	void atInfoAStreamIsOneLineWhenItEnds() {
		lifecycle(new StreamLog());

		assertThat(this.lines.list).hasSize(1);
		Map<String, Object> fields = fields(this.lines.list.get(0));
		assertThat(this.lines.list.get(0).getFormattedMessage()).contains("str_1");
		assertThat(fields).containsEntry("stream_id", "str_1")
			.containsEntry("transition", "cancelled")
			.containsEntry("finish_reason", "cancel_requested")
			.containsEntry("lifetime_ms", 900L);
	}

	@Test
	void atDebugEveryTransitionIsOneLineWithTheStreamId() {
		this.logger.setLevel(Level.DEBUG);
		lifecycle(new StreamLog());

		assertThat(this.lines.list).hasSize(4);
		assertThat(this.lines.list).allSatisfy(line -> assertThat(line.getFormattedMessage()).contains("str_1"));
		List<Map<String, Object>> fields = this.lines.list.stream().map(StreamLogTest::fields).toList();
		assertThat(fields).extracting(field -> field.get("transition"))
			.containsExactly("created", "started", "first_token", "cancelled");
		assertThat(fields).allSatisfy(field -> assertThat(field).containsEntry("stream_id", "str_1"));
		assertThat(fields.get(3)).containsEntry("finish_reason", "cancel_requested")
			.containsEntry("lifetime_ms", 900L)
			.containsEntry("ran_ms", 800L)
			.containsEntry("slot_release_us", 42L);
	}

	private static void lifecycle(StreamLog log) {
		log.created("str_1", "simulated", false);
		log.started("str_1", Duration.ofMillis(12));
		log.firstToken("str_1", Duration.ofMillis(250));
		log.token();
		log.ended("str_1", FinishReason.CANCEL_REQUESTED, Duration.ofMillis(900), Duration.ofMillis(800),
				Duration.ofNanos(42_000));
	}

	private static Map<String, Object> fields(ILoggingEvent line) {
		return line.getKeyValuePairs()
			.stream()
			.filter(pair -> pair.value != null)
			.collect(Collectors.toMap(pair -> pair.key, pair -> pair.value));
	}

}
