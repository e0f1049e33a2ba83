package dev.scalpel.stream;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import com.github.benmanes.caffeine.cache.Scheduler;
import com.github.benmanes.caffeine.cache.Ticker;
import org.junit.jupiter.api.Test;
import reactor.core.scheduler.Schedulers;

import org.springframework.util.unit.DataSize;

import dev.scalpel.slot.SlotPool;
import dev.scalpel.stream.Harness.Recorder;
import dev.scalpel.support.Await;
import dev.scalpel.support.FakeControlledTokenSource;
import dev.scalpel.support.FakeControlledTokenSource.Call;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Ended streams are held to {@code scalpel.streams.retention-memory}: past three quarters of it the
 * oldest let go of their events and prompt and keep their status (a replay answers {@code 410}, the
 * status never {@code 404}), the newest keep everything, the compacted keep the expiry they had, and
 * past the compacted streams' own quarter the oldest are forgotten.
 */
class RetentionMemoryTest {

	private static final Duration WAIT = Duration.ofSeconds(5);

	private final FakeControlledTokenSource upstream = new FakeControlledTokenSource();

	private final SlotPool slots = new SlotPool(4, 4, Duration.ofSeconds(30));

	@Test
	void pastTheBudgetTheOldestEndedStreamsKeepTheirStatusButNotTheirEvents() {
		InMemoryStreamRegistry registry = registry(DataSize.ofKilobytes(64), Ticker.systemTicker());
		StreamManager manager = manager(registry);
		List<String> ids = run(manager, 16);

		assertThat(registry.retainedBytes()[0]).isLessThanOrEqualTo(DataSize.ofKilobytes(48).toBytes());
		assertThat(registry.retainedBytes()[1]).isPositive().isLessThanOrEqualTo(DataSize.ofKilobytes(16).toBytes());
		for (String id : ids) {
			assertThat(manager.status(id).status()).as(id).isEqualTo("completed");
		}
		assertThatThrownBy(() -> manager.attach(ids.get(0), 0)).isInstanceOf(EventsExpired.class);
		Recorder newest = Recorder.reading(manager.attach(ids.get(ids.size() - 1), 0));
		Await.atMost(WAIT).until(() -> newest.completed);
		assertThat(newest.types()).startsWith("stream.created", "stream.started", "token").endsWith("stream.completed");
		assertThat(newest.types().stream().filter("token"::equals)).hasSize(20);
		// Only some fit: a stream of 20 tokens and a 1,000-character prompt weighs about 5 kilobytes.
		long full = ids.stream().filter(id -> replays(manager, id)).count();
		assertThat(full).isBetween(4L, 12L);
		assertThat(this.slots.inUse()).isZero();
	}

	@Test
	void pastTheCompactedStreamsShareTheOldestAreForgotten() {
		InMemoryStreamRegistry registry = registry(DataSize.ofKilobytes(40), Ticker.systemTicker());
		StreamManager manager = manager(registry);
		List<String> ids = run(manager, 60);

		assertThat(registry.retainedBytes()[0]).isLessThanOrEqualTo(DataSize.ofKilobytes(30).toBytes());
		assertThat(registry.retainedBytes()[1]).isLessThanOrEqualTo(DataSize.ofKilobytes(10).toBytes());
		assertThatThrownBy(() -> manager.status(ids.get(0))).isInstanceOf(StreamNotFound.class);
		assertThat(manager.status(ids.get(ids.size() - 1)).status()).isEqualTo("completed");
	}

	@Test
	void aCompactedStreamExpiresWhenItsRetentionEndsAsIfItHadKeptItsEvents() {
		AtomicLong now = new AtomicLong();
		InMemoryStreamRegistry registry = registry(DataSize.ofKilobytes(64), now::get);
		StreamManager manager = manager(registry);
		List<String> first = run(manager, 1);
		now.addAndGet(TimeUnit.MINUTES.toNanos(5));
		List<String> later = run(manager, 12);
		assertThatThrownBy(() -> manager.attach(first.get(0), 0)).isInstanceOf(EventsExpired.class);

		now.addAndGet(TimeUnit.MINUTES.toNanos(5) - TimeUnit.SECONDS.toNanos(1));
		assertThat(manager.status(first.get(0)).status()).isEqualTo("completed");
		now.addAndGet(TimeUnit.SECONDS.toNanos(2));
		assertThatThrownBy(() -> manager.status(first.get(0))).isInstanceOf(StreamNotFound.class);
		assertThat(manager.status(later.get(0)).status()).isEqualTo("completed");
	}

	/** A registry with a retention of ten minutes and this memory, on this ticker, expiring on reads. */
	private static InMemoryStreamRegistry registry(DataSize memory, Ticker ticker) {
		return new InMemoryStreamRegistry(Duration.ofMinutes(10), memory.toBytes(), ticker,
				Scheduler.disabledScheduler());
	}

	private StreamManager manager(InMemoryStreamRegistry registry) {
		return Harness.manager(this.slots, Harness.streams(), Harness.upstream(), Schedulers.parallel(), registry,
				this.upstream);
	}

	/** Runs streams of a 1,000-character prompt and 20 tokens to their end, one after the other. */
	private List<String> run(StreamManager manager, int count) {
		List<String> ids = new ArrayList<>();
		for (int i = 0; i < count; i++) {
			StreamManager.Started started = manager.start(Harness.background("controlled", "p".repeat(1000) + i), false);
			Call call = this.upstream.nextCall(WAIT);
			for (int t = 0; t < 20; t++) {
				call.token("token number " + t + " of stream " + i);
			}
			call.finish("stop");
			String id = started.view().id();
			Await.atMost(WAIT).until(() -> manager.status(id).status().equals("completed"));
			ids.add(id);
		}
		return ids;
	}

	private static boolean replays(StreamManager manager, String id) {
		try {
			manager.attach(id, 0).events().subscribe().dispose();
			return true;
		}
		catch (EventsExpired expired) {
			return false;
		}
	}

}
