package dev.scalpel.support;

import java.time.Duration;
import java.util.UUID;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.boot.test.system.CapturedOutput;

/**
 * Log lines are written by a thread of their own once an application has started in the test JVM
 * ({@code dev.scalpel.observe.AsyncLogging}), so a line logged a moment ago may not be in the captured
 * output yet. The writer takes lines in order: once a marker logged now is out, so is every line
 * logged before it.
 */
public final class Logs {

	private static final Logger logger = LoggerFactory.getLogger(Logs.class);

	/** How the marker lines {@link #written} logs begin: a test that counts lines leaves them out. */
	public static final String MARKER = "written-marker-";

	private Logs() {
	}

	/** The captured output, once every line logged before this call has been written to it. */
	public static String written(CapturedOutput output) {
		String marker = MARKER + UUID.randomUUID();
		logger.warn(marker);
		Await.atMost(Duration.ofSeconds(10)).until(() -> output.getAll().contains(marker));
		return output.getAll();
	}

}
