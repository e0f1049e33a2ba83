package dev.scalpel.stream;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.scheduler.Schedulers;

import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.http.MediaType;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.web.reactive.function.client.WebClient;

import dev.scalpel.support.Await;
import dev.scalpel.support.ScalpelTest;
import dev.scalpel.support.StreamsClient;
import dev.scalpel.upstream.fake.Endpoints;
import dev.scalpel.upstream.fake.Script;
import dev.scalpel.upstream.fake.TestUpstream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A thousand generations streaming from a real provider server at once, through Scalpel: the number of
 * live JVM threads stays flat, because no thread is held per stream (Reactor Netty's event loops serve
 * them all). Prints the figures. Idle keep-alive connections are closed after
 * {@code scalpel.upstream.idle-connection-time}, so none is left open at the end.
 */
@ScalpelTest(properties = { "scalpel.slots.max=1000", "scalpel.upstream.idle-connection-time=1s" })
class ThousandUpstreamStreamsEndToEndTest extends ApiEndToEndTest {

	private static final int STREAMS = 1000;

	private static final TestUpstream upstream = TestUpstream.start();

	@Autowired
	StreamManager manager;

	@DynamicPropertySource
	static void endpoint(DynamicPropertyRegistry registry) {
		Endpoints.register(registry, 0, "oa", "openai", upstream::baseUrl, null, "many");
	}

	@AfterAll
	static void noConnectionIsLeftOpen() {
		upstream.closeWhenAllClosed(Duration.ofSeconds(10));
	}

	@Test
	void aThousandConcurrentUpstreamStreamsHoldNoThreadEach() {
		String body = "{\"model\":\"many\",\"prompt\":\"Count\",\"background\":true}";
		// Warm up: class loading, pools, the first connection.
		upstream.defaultScript(Script.words(3));
		this.client.startAccepted(body);
		Await.atMost(StreamsClient.TIMEOUT).until(() -> this.slots.inUse() == 0);
		ThreadMXBean threads = ManagementFactory.getThreadMXBean();
		int before = threads.getThreadCount();

		upstream.defaultScript(Script.words(24).interval(Duration.ofMillis(500)));
		AtomicInteger peakThreads = new AtomicInteger(before);
		AtomicInteger peakCalls = new AtomicInteger();
		AtomicInteger peakConnections = new AtomicInteger();
		AtomicLong allOpenAt = new AtomicLong();
		Disposable sampler = Flux.interval(Duration.ofMillis(10), Schedulers.single()).subscribe(tick -> {
			peakThreads.accumulateAndGet(threads.getThreadCount(), Math::max);
			peakConnections.accumulateAndGet(upstream.openConnections().size(), Math::max);
			if (peakCalls.accumulateAndGet(this.manager.upstreamCount(), Math::max) == STREAMS) {
				allOpenAt.compareAndSet(0, System.nanoTime());
			}
		});
		WebClient http = WebClient.create("http://localhost:" + this.port);
		long startedAt = System.nanoTime();
		List<Integer> statuses = Flux.range(0, STREAMS)
			.flatMap(i -> http.post()
				.uri("/v1/streams")
				.contentType(MediaType.APPLICATION_JSON)
				.bodyValue(body)
				.exchangeToMono(response -> response.releaseBody().thenReturn(response.statusCode().value())), 64)
			.collectList()
			.block(Duration.ofSeconds(30));
		assertThat(statuses).hasSize(STREAMS).containsOnly(202);
		long startsTook = Duration.ofNanos(System.nanoTime() - startedAt).toMillis();
		Await.atMost(Duration.ofSeconds(30)).until(() -> this.slots.inUse() == 0);
		sampler.dispose();
		int after = threads.getThreadCount();
		int upstreamCalls = peakCalls.get();
		int openAtPeak = peakConnections.get();
		long allOpenAfter = (allOpenAt.get() == 0) ? -1 : Duration.ofNanos(allOpenAt.get() - startedAt).toMillis();

		System.out.printf("%d concurrent upstream streams: live JVM threads %d before, %d at most while they ran,"
				+ " %d after; at most %d upstream calls open in Scalpel and %d connections at the server, all open %d ms"
				+ " after the first start (the starts took %d ms)%n", STREAMS, before, peakThreads.get(), after,
				upstreamCalls, openAtPeak, allOpenAfter, startsTook);
		assertThat(upstreamCalls).isEqualTo(STREAMS);
		assertThat(peakThreads.get() - before).as("threads added while %d streams ran", STREAMS).isLessThan(40);
	}

}
