package dev.scalpel.observe;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;

import ch.qos.logback.classic.AsyncAppender;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.Appender;
import org.slf4j.LoggerFactory;

import org.springframework.boot.context.event.ApplicationEnvironmentPreparedEvent;
import org.springframework.boot.context.logging.LoggingApplicationListener;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.context.ApplicationListener;
import org.springframework.core.Ordered;

/**
 * Moves the writing of log lines off the threads that log them: once Spring Boot has set up logging,
 * the root logger's appenders (the console, and the file when one is configured) are put behind one
 * Logback {@link AsyncAppender} that never blocks.
 *
 * <p>Every stream logs its lifecycle from an event loop, and there is one event loop per core. Written
 * in place, a line is a {@code write} to standard output; in a container that is a pipe, and when
 * whatever reads it falls behind (the node's log agent, a full disk under the runtime's log files) the
 * write blocks, and with it every stream, cancel and disconnect on that event loop. Here a line
 * waits in a bounded queue for the writer thread instead, and when the queue is full it is dropped
 * and counted ({@code scalpel.log.dropped}): losing log lines is the lesser harm. Its formatting and
 * its write also leave the event loop, which on a busy instance spent some 5 % of its time there.
 *
 * <p>Runs just after Spring Boot's {@link LoggingApplicationListener}, each time it sets logging up,
 * so Boot's own settings (patterns, structured formats, {@code logging.file.name}) apply unchanged.
 * Registered in {@code META-INF/spring.factories}: it must run before the application context exists.
 */
public final class AsyncLogging implements ApplicationListener<ApplicationEnvironmentPreparedEvent>, Ordered {

	/** The name of the appender that holds the root logger's others. */
	public static final String APPENDER = "SCALPEL_ASYNC";

	@Override
	public int getOrder() {
		return LoggingApplicationListener.DEFAULT_ORDER + 1;
	}

	@Override
	public void onApplicationEvent(ApplicationEnvironmentPreparedEvent event) {
		if (!(LoggerFactory.getILoggerFactory() instanceof LoggerContext context)) {
			return;
		}
		LoggingProperties logging = Binder.get(event.getEnvironment())
			.bindOrCreate("scalpel.logging", LoggingProperties.class);
		// A queue size out of range is left to the properties' validation, which fails the start with
		// Spring Boot's usual message once the context binds them.
		if (logging.async() && logging.queueSize() >= LoggingProperties.MIN_QUEUE_SIZE) {
			wrap(context, logging.queueSize());
		}
	}

	/**
	 * Puts the root logger's appenders behind one that never blocks; does nothing when they already
	 * are, or when the root has none.
	 */
	static void wrap(LoggerContext context, int queueSize) {
		Logger root = context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
		if (root.getAppender(APPENDER) != null) {
			return;
		}
		List<Appender<ILoggingEvent>> appenders = new ArrayList<>();
		root.iteratorForAppenders().forEachRemaining(appenders::add);
		if (appenders.isEmpty()) {
			return;
		}
		CountingAsyncAppender async = new CountingAsyncAppender();
		async.setContext(context);
		async.setName(APPENDER);
		async.setQueueSize(queueSize);
		// Never drop a line while there is room (Logback drops INFO and below once the queue is four
		// fifths full by default), and never block the thread that logs when there is none.
		async.setDiscardingThreshold(0);
		async.setNeverBlock(true);
		appenders.forEach(async::addAppender);
		async.start();
		// Attached before the others are detached, so that no line is lost in between.
		root.addAppender(async);
		appenders.forEach(root::detachAppender);
	}

	/** Log lines dropped so far because the queue was full; 0 when lines are written in place. */
	public static long dropped() {
		if (LoggerFactory.getILoggerFactory() instanceof LoggerContext context
				&& context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME)
					.getAppender(APPENDER) instanceof CountingAsyncAppender async) {
			return async.dropped();
		}
		return 0;
	}

	/**
	 * Logback's asynchronous appender, counting what it drops. The appender does not say whether it
	 * queued a line, so a line is counted when the queue is full just before it is offered: a close
	 * count, not an exact one, when the writer takes a line or another thread offers one in between.
	 */
	static final class CountingAsyncAppender extends AsyncAppender {

		private final LongAdder dropped = new LongAdder();

		@Override
		protected void append(ILoggingEvent event) {
			if (isStarted() && getRemainingCapacity() == 0) {
				this.dropped.increment();
			}
			super.append(event);
		}

		long dropped() {
			return this.dropped.sum();
		}

	}

}
