package dev.scalpel.observe;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;

import dev.scalpel.ScalpelApplication;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatException;

/** {@code scalpel.logging.*} as an operator sets it: on, off, and out of range. */
class LoggingPropertiesTest {

	@Test
	void byDefaultTheRootsAppendersAreBehindTheAsynchronousOne() {
		try (ConfigurableApplicationContext context = start()) {
			assertThat(root().getAppender(AsyncLogging.APPENDER)).isNotNull();
			assertThat(root().getAppender("CONSOLE")).isNull();
		}
	}

	@Test
	void turnedOffLinesAreWrittenInPlace() {
		try (ConfigurableApplicationContext context = start("--scalpel.logging.async=false")) {
			assertThat(root().getAppender(AsyncLogging.APPENDER)).isNull();
			assertThat(root().getAppender("CONSOLE")).isNotNull();
			assertThat(AsyncLogging.dropped()).isZero();
		}
	}

	@Test
	void aQueueOfNoLinesFailsTheStartAndSaysWhichSetting() {
		assertThatException().isThrownBy(() -> start("--scalpel.logging.queue-size=0").close())
			.satisfies(failure -> assertThat(causes(failure)).contains("scalpel.logging.queue-size"));
	}

	private static ConfigurableApplicationContext start(String... args) {
		String[] all = new String[args.length + 1];
		all[0] = "--server.port=0";
		System.arraycopy(args, 0, all, 1, args.length);
		return new SpringApplicationBuilder(ScalpelApplication.class).profiles("test").run(all);
	}

	private static Logger root() {
		return ((LoggerContext) LoggerFactory.getILoggerFactory()).getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
	}

	private static String causes(Throwable failure) {
		StringBuilder messages = new StringBuilder();
		for (Throwable cause = failure; cause != null; cause = cause.getCause()) {
			messages.append(cause.getMessage()).append('\n');
		}
		return messages.toString();
	}

}
