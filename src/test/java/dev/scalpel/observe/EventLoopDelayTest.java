package dev.scalpel.observe;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.core.instrument.distribution.CountAtBucket;
import io.micrometer.core.instrument.distribution.DistributionStatisticConfig;
import io.micrometer.core.instrument.distribution.HistogramSnapshot;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.channel.DefaultEventLoopGroup;
import io.netty.channel.EventLoopGroup;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@link EventLoopDelay} on loops of its own: a stalled loop shows as one late probe of about the
 * stall, probes stop with the application, and a loop that shuts down ends its probing quietly.
 */
class EventLoopDelayTest {

	private static final Duration INTERVAL = Duration.ofMillis(20);

	private final EventLoopGroup loops = new DefaultEventLoopGroup(2);

	private final SimpleMeterRegistry registry = registry();

	private final EventLoopDelay delay = new EventLoopDelay(() -> this.loops, INTERVAL, this.registry);

	@AfterEach
	void stop() throws InterruptedException {
		this.delay.stop();
		this.loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
	}

	@Test
	void probesEveryLoopUntilStopped() {
		this.delay.start();
		assertThat(this.delay.isRunning()).isTrue();
		// Two loops, one probe each per 20 ms: 20 probes take about 200 ms.
		await().atMost(Duration.ofSeconds(10)).until(() -> this.delay.timer().count() >= 20);

		this.delay.stop();
		assertThat(this.delay.isRunning()).isFalse();
		// A probe already armed may still run once per loop; after that, nothing.
		sleep(3 * INTERVAL.toMillis());
		long stopped = this.delay.timer().count();
		sleep(10 * INTERVAL.toMillis());
		assertThat(this.delay.timer().count()).isEqualTo(stopped);
	}

	@Test
	void aStalledLoopGivesOneLateProbeOfAboutTheStall() throws InterruptedException {
		this.delay.start();
		await().atMost(Duration.ofSeconds(10)).until(() -> this.delay.timer().count() >= 4);
		// The buckets are read while no probe records: a snapshot read while the other loop recorded
		// could count one probe in its total and not in its buckets (1 run in about 10 on a busy machine).
		long before = quietly(() -> above(Duration.ofMillis(250)));
		String beforeSnapshot = this.delay.timer().takeSnapshot().toString();
		this.delay.start();

		// Keep one loop busy for 400 ms, as a long GC pause or a saturated core would. (Spinning, not
		// sleeping: BlockHound refuses blocking calls on event loop threads in these tests.)
		CountDownLatch stalled = new CountDownLatch(1);
		this.loops.next().execute(() -> {
			long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(400);
			while (System.nanoTime() < end) {
				// busy: BlockHound counts even Thread.onSpinWait as blocking
			}
			stalled.countDown();
		});
		assertThat(stalled.await(10, TimeUnit.SECONDS)).isTrue();
		long count = this.delay.timer().count();
		await().atMost(Duration.ofSeconds(10)).until(() -> this.delay.timer().count() >= count + 4);

		// Its probe was due within the stall and ran at its end: at least 400 ms minus one interval late.
		assertThat(this.delay.timer().max(TimeUnit.MILLISECONDS)).isGreaterThanOrEqualTo(380);
		// One probe more than 250 ms late, not the seven or so of the twenty a fixed-rate probe would have
		// queued up behind the stall (this machine's own hiccups may add one; with 100 ms as the bound, a
		// busy CI machine added two).
		long after = quietly(() -> above(Duration.ofMillis(250)));
		assertThat(after - before)
			.as("before the stall: %s; after it: %s", beforeSnapshot, this.delay.timer().takeSnapshot())
			.isBetween(1L, 2L);
	}

	@Test
	void aLoopThatShutsDownEndsItsProbesQuietly() throws InterruptedException {
		this.delay.start();
		await().atMost(Duration.ofSeconds(10)).until(() -> this.delay.timer().count() >= 2);
		assertThat(this.loops.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS)).isTrue();
		long count = this.delay.timer().count();
		sleep(5 * INTERVAL.toMillis());
		assertThat(this.delay.timer().count()).isEqualTo(count);
	}

	/**
	 * A registry whose histograms keep every sample for an hour: the buckets are counted over a window
	 * that rotates (by default a third of two minutes), and one rotation between the counts before and
	 * after the stall made them disagree (1 run in about 10 on a loaded machine).
	 */
	private static SimpleMeterRegistry registry() {
		SimpleMeterRegistry registry = new SimpleMeterRegistry();
		registry.config().meterFilter(new MeterFilter() {
			@Override
			public DistributionStatisticConfig configure(Meter.Id id, DistributionStatisticConfig config) {
				return DistributionStatisticConfig.builder()
					.expiry(Duration.ofHours(1))
					.bufferLength(1)
					.build()
					.merge(config);
			}
		});
		return registry;
	}

	/** How many probes were later than {@code limit}, from the timer's buckets (250 ms is one of them). */
	private long above(Duration limit) {
		HistogramSnapshot snapshot = this.delay.timer().takeSnapshot();
		long total = snapshot.count();
		for (CountAtBucket bucket : snapshot.histogramCounts()) {
			if (bucket.bucket(TimeUnit.NANOSECONDS) == limit.toNanos()) {
				return total - (long) bucket.count();
			}
		}
		throw new IllegalStateException("no bucket at " + limit);
	}

	/** Stops the probes, lets a probe already armed run, then reads. */
	private long quietly(java.util.function.LongSupplier read) {
		this.delay.stop();
		sleep(5 * INTERVAL.toMillis());
		return read.getAsLong();
	}

	private static void sleep(long millis) {
		try {
			Thread.sleep(millis);
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
		}
	}

}
