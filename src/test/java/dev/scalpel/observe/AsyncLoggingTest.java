package dev.scalpel.observe;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.util.LogbackMDCAdapter;
import ch.qos.logback.core.AppenderBase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatNoException;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * {@link AsyncLogging} on a Logback context of the test's own: a writer that is stuck never blocks the
 * thread that logs, lines arrive in order, and what could not be queued is counted.
 */
class AsyncLoggingTest {

	private static final Duration WAIT = Duration.ofSeconds(10);

	private final LoggerContext context = new LoggerContext();

	private final Logger root = this.context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);

	private final Recorder written = new Recorder();

	AsyncLoggingTest() {
		// What SLF4J's provider gives the application's context: lines copy the MDC when they are queued.
		this.context.setMDCAdapter(new LogbackMDCAdapter());
		this.root.setLevel(Level.INFO);
		this.written.setContext(this.context);
		this.written.setName("CONSOLE");
		this.written.start();
		this.root.addAppender(this.written);
	}

	@AfterEach
	void stop() {
		this.written.unblock();
		this.context.stop();
	}

	@RepeatedTest(100)
	void aWriterThatIsStuckNeverBlocksTheThreadThatLogs() {
		this.written.block();
		AsyncLogging.wrap(this.context, 16);
		Logger logger = this.context.getLogger("scalpel.streams");

		// Written in place, the first line would block this thread until the writer is unblocked.
		assertTimeoutPreemptively(WAIT, () -> {
			for (int i = 0; i < 100; i++) {
				logger.info("line {}", i);
			}
		});

		// Logback's writer takes what is queued in one batch and is stuck on the batch's first line; 16
		// more lines fill the queue (all 100 may come before the writer has taken any), and the rest are
		// dropped and counted.
		long dropped = ((AsyncLogging.CountingAsyncAppender) this.root.getAppender(AsyncLogging.APPENDER)).dropped();
		assertThat(dropped).isBetween(100L - 16 - 17, 100L - 16);
		this.written.unblock();
		await().atMost(WAIT).until(() -> this.written.lines().size() + dropped >= 100);
		// A line is counted when the queue is full just before it is offered. The writer makes room
		// twice before it is stuck (it takes one line, then drains the rest into its batch): a line
		// offered in each of those instants is counted and queued, so the count may be up to two too
		// many, never too few (one thread logs, so no other fills the queue in between).
		assertThat(this.written.lines().size() + dropped).isBetween(100L, 102L);
		assertThat(numbers(this.written.lines())).isSorted().startsWith(0, 1, 2);
	}

	@Test
	void theRootsAppendersMoveBehindTheAsynchronousOneAndGetEveryLine() {
		AsyncLogging.wrap(this.context, 8192);
		Logger logger = this.context.getLogger("scalpel.streams");

		assertThat(this.root.getAppender("CONSOLE")).isNull();
		assertThat(this.root.getAppender(AsyncLogging.APPENDER)).isNotNull();
		for (int i = 0; i < 1000; i++) {
			logger.info("line {}", i);
		}
		await().atMost(WAIT).until(() -> this.written.lines().size() == 1000);
		assertThat(numbers(this.written.lines())).isSorted().doesNotHaveDuplicates();
		assertThat(this.written.threads()).allMatch(thread -> thread.startsWith("AsyncAppender-Worker"));
	}

	@Test
	void wrappingTwiceOrWithoutAppendersChangesNothing() {
		AsyncLogging.wrap(this.context, 64);
		AsyncLogging.wrap(this.context, 64);
		List<String> names = new ArrayList<>();
		this.root.iteratorForAppenders().forEachRemaining(appender -> names.add(appender.getName()));
		assertThat(names).containsExactly(AsyncLogging.APPENDER);

		LoggerContext empty = new LoggerContext();
		assertThatNoException().isThrownBy(() -> AsyncLogging.wrap(empty, 64));
		assertThat(empty.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME).iteratorForAppenders().hasNext()).isFalse();
		empty.stop();
	}

	/** Threads logging at once, with room in the queue: every line arrives, each thread's in its order. */
	@RepeatedTest(200)
	void concurrentLoggersLoseNothingWhileThereIsRoom() throws InterruptedException {
		AsyncLogging.wrap(this.context, 8192);
		int threads = 4;
		int lines = 200;
		CountDownLatch go = new CountDownLatch(1);
		List<Thread> loggers = new ArrayList<>();
		for (int t = 0; t < threads; t++) {
			Logger logger = this.context.getLogger("thread" + t);
			Thread thread = new Thread(() -> {
				try {
					go.await(WAIT.toMillis(), TimeUnit.MILLISECONDS);
				}
				catch (InterruptedException ex) {
					Thread.currentThread().interrupt();
					return;
				}
				for (int i = 0; i < lines; i++) {
					logger.info("line {}", i);
				}
			});
			thread.start();
			loggers.add(thread);
		}
		go.countDown();
		for (Thread thread : loggers) {
			thread.join(WAIT.toMillis());
			assertThat(thread.isAlive()).isFalse();
		}

		await().atMost(WAIT).pollInterval(Duration.ofMillis(5)).until(() -> this.written.events().size() == threads * lines);
		for (int t = 0; t < threads; t++) {
			String name = "thread" + t;
			List<Integer> own = numbers(this.written.events()
				.stream()
				.filter(event -> event.getLoggerName().equals(name))
				.map(ILoggingEvent::getFormattedMessage)
				.toList());
			assertThat(own).as(name).hasSize(lines).isSorted();
		}
		assertThat(((AsyncLogging.CountingAsyncAppender) this.root.getAppender(AsyncLogging.APPENDER)).dropped()).isZero();
	}

	private static List<Integer> numbers(List<String> lines) {
		return lines.stream().map(line -> Integer.parseInt(line.substring("line ".length()))).toList();
	}

	/** Records what it is given, and can be made to block as a full pipe would. */
	static final class Recorder extends AppenderBase<ILoggingEvent> {

		private final List<ILoggingEvent> events = new CopyOnWriteArrayList<>();

		private final List<String> threads = new CopyOnWriteArrayList<>();

		private volatile CountDownLatch gate = new CountDownLatch(0);

		void block() {
			this.gate = new CountDownLatch(1);
		}

		void unblock() {
			this.gate.countDown();
		}

		@Override
		protected void append(ILoggingEvent event) {
			try {
				// Bounded: a test that forgets to unblock fails instead of hanging.
				this.gate.await(30, TimeUnit.SECONDS);
			}
			catch (InterruptedException ex) {
				Thread.currentThread().interrupt();
			}
			this.threads.add(Thread.currentThread().getName());
			this.events.add(event);
		}

		List<ILoggingEvent> events() {
			return this.events;
		}

		List<String> lines() {
			return this.events.stream().map(ILoggingEvent::getFormattedMessage).toList();
		}

		List<String> threads() {
			return this.threads;
		}

	}

}
