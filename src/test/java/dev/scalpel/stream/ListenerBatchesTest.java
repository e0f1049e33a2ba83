package dev.scalpel.stream;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import io.netty.channel.DefaultEventLoop;
import io.netty.channel.EventLoop;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;
import org.reactivestreams.Subscription;
import reactor.core.publisher.BaseSubscriber;

import dev.scalpel.slot.SlotPool;
import dev.scalpel.support.Await;
import dev.scalpel.support.FakeControlledTokenSource;
import dev.scalpel.support.FakeControlledTokenSource.Call;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A listener's events leave in batches (docs/adr/listener-batches.md): the tokens appended in one
 * turn of an event loop reach the reader as one batch, a token appended off an event loop at once,
 * and however appends, reads and a cancel interleave, the batches put together are every event once,
 * in order, the terminal one last.
 */
class ListenerBatchesTest {

	private static final Duration WAIT = Duration.ofSeconds(10);

	private final FakeControlledTokenSource upstream = new FakeControlledTokenSource();

	private final EventLoop loop = new DefaultEventLoop();

	private SlotPool slots;

	private StreamManager manager;

	@BeforeEach
	void start() {
		this.slots = new SlotPool(4, 16, Duration.ofSeconds(5));
		this.manager = Harness.manager(this.slots, Harness.streams(), Harness.upstream(), this.upstream);
	}

	@AfterEach
	void stop() throws InterruptedException {
		this.loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
	}

	@Test
	void theTokensOfOneEventLoopTurnLeaveAsOneBatch() throws Exception {
		StreamManager.Started started = this.manager.start(Harness.prompt("controlled", "hi"), true);
		Batches reader = Batches.reading(started.listener(), Long.MAX_VALUE);
		Call call = this.upstream.nextCall(WAIT);
		int before = reader.batches.size();
		this.loop.submit(() -> {
			for (int i = 0; i < 20; i++) {
				call.token("t" + i);
			}
		}).get(10, TimeUnit.SECONDS);
		Await.atMost(WAIT).until(() -> reader.tokens() == 20);

		assertThat(reader.batches).hasSize(before + 1);
		assertThat(reader.batches.get(before)).extracting(StreamEvent::type).containsOnly(EventType.TOKEN.wireName()).hasSize(20);
		call.finish("stop");
		Await.atMost(WAIT).until(() -> reader.completed);
		assertThat(reader.last().type()).isEqualTo("stream.completed");
	}

	@Test
	void aTokenAppendedOffAnEventLoopLeavesAtOnce() {
		StreamManager.Started started = this.manager.start(Harness.prompt("controlled", "hi"), true);
		Batches reader = Batches.reading(started.listener(), Long.MAX_VALUE);
		Call call = this.upstream.nextCall(WAIT);
		int before = reader.batches.size();
		call.token("a");
		assertThat(reader.batches).hasSize(before + 1);
		call.token("b");
		assertThat(reader.batches).hasSize(before + 2);
		call.finish("stop");
		assertThat(reader.completed).isTrue();
	}

	@Test
	void demandCountsBatchesAndAStalledReaderGetsNoMore() throws Exception {
		StreamManager.Started started = this.manager.start(Harness.prompt("controlled", "hi"), true);
		Batches reader = Batches.reading(started.listener(), 1);
		Call call = this.upstream.nextCall(WAIT);
		this.loop.submit(() -> call.token("a").token("b")).get(10, TimeUnit.SECONDS);
		Await.atMost(WAIT).during(Duration.ofMillis(100)).until(() -> reader.batches.size() == 1);
		assertThat(started.listener().waitingForReader()).isTrue();

		reader.more(1);
		Await.atMost(WAIT).until(() -> reader.tokens() == 2);
		assertThat(reader.batches).hasSize(2);
	}

	/**
	 * Tokens in bursts of random size on an event loop, a reader asking for random amounts from another
	 * thread, and a cancel at a random moment from a third: nothing lost, doubled or reordered.
	 */
	@RepeatedTest(300)
	void batchesPutTogetherAreEveryEventOnceInOrderWhateverInterleaves() throws Exception {
		ThreadLocalRandom random = ThreadLocalRandom.current();
		StreamManager.Started started = this.manager.start(Harness.prompt("controlled", "hi"), true);
		Batches reader = Batches.reading(started.listener(), 1 + random.nextInt(3));
		Call call = this.upstream.nextCall(WAIT);
		int bursts = 1 + random.nextInt(8);
		int cancelAfter = random.nextInt(bursts + 1);
		Thread demand = new Thread(() -> {
			while (!reader.completed) {
				reader.more(1 + random.nextInt(4));
				Thread.onSpinWait();
			}
		});
		demand.start();
		for (int burst = 0; burst < bursts; burst++) {
			int size = 1 + random.nextInt(10);
			int first = burst * 10;
			this.loop.execute(() -> {
				for (int i = 0; i < size; i++) {
					call.token("t" + (first + i));
				}
			});
			if (burst == cancelAfter) {
				this.manager.cancel(started.view().id());
			}
		}
		this.loop.execute(() -> call.finish("stop"));
		Await.atMost(WAIT).until(() -> reader.completed);
		demand.join(WAIT.toMillis());

		List<StreamEvent> events = reader.events();
		for (int i = 0; i < events.size(); i++) {
			assertThat(events.get(i).id()).isEqualTo(i + 1);
		}
		assertThat(events).filteredOn(StreamEvent::terminal).hasSize(1);
		assertThat(reader.last().terminal()).isTrue();
		assertThat(reader.batches).allSatisfy(batch -> assertThat(batch).isNotEmpty());
		// A reader asking from its own thread may take the terminal event as the ending thread frees the slot.
		Await.atMost(WAIT).until(() -> this.slots.inUse() == 0);
	}

	/** Records a listener's batches; asks for as many as the test says. */
	static final class Batches extends BaseSubscriber<List<StreamEvent>> {

		final List<List<StreamEvent>> batches = new CopyOnWriteArrayList<>();

		private final long initial;

		volatile boolean completed;

		private Batches(long initial) {
			this.initial = initial;
		}

		static Batches reading(Listener listener, long demand) {
			Batches batches = new Batches(demand);
			listener.batches().subscribe(batches);
			return batches;
		}

		void more(long n) {
			request(n);
		}

		@Override
		protected void hookOnSubscribe(Subscription subscription) {
			subscription.request(this.initial);
		}

		@Override
		protected void hookOnNext(List<StreamEvent> batch) {
			this.batches.add(batch);
		}

		@Override
		protected void hookOnComplete() {
			this.completed = true;
		}

		List<StreamEvent> events() {
			List<StreamEvent> all = new ArrayList<>();
			this.batches.forEach(all::addAll);
			return all;
		}

		long tokens() {
			return events().stream().filter(event -> EventType.TOKEN.wireName().equals(event.type())).count();
		}

		StreamEvent last() {
			List<StreamEvent> all = events();
			return all.get(all.size() - 1);
		}

	}

}
