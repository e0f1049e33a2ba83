package dev.scalpel.stream;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import io.micrometer.core.instrument.MeterRegistry;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.util.concurrent.EventExecutor;
import org.junit.jupiter.api.Test;

import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.http.client.ReactorResourceFactory;

import dev.scalpel.support.Await;
import dev.scalpel.support.ScalpelTest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A client that sends its start and closes its connection before Scalpel has read the request (a
 * client that gave up while its request waited, as under load) gets no upstream call: Scalpel reads
 * the request and the close in the same turn of its event loop (on the epoll transport), and the call
 * it would have made for the stream goes out only after that turn, by when the stream has ended. Real sockets; the server's
 * event loops are held for a moment so that each request and its close are both there when the
 * server reads. In {@code churn}, before this, 11 % of the streams made a call for nobody.
 */
@ScalpelTest
class ClosedBeforeReadEndToEndTest extends ApiEndToEndTest {

	private static final int ROUNDS = 20;

	private static final int CLIENTS = 10;

	private static final Duration WAIT = Duration.ofSeconds(10);

	@Autowired
	MeterRegistry meters;

	/** Where the server's event loops come from. */
	@Autowired
	ReactorResourceFactory resources;

	@Test
	void aStartWhoseClientClosedBeforeItWasReadCallsNobody() throws Exception {
		// The epoll transport (Linux x86_64, where Reactor Netty ships it; the image's) reads a close that
		// came with the request in the same turn. Netty's NIO transport, used elsewhere or with
		// reactor.netty.native=false, reads it a turn later: there each of these clients' calls goes out
		// and is closed at once (tried: 10 of 10), which the other test covers.
		assumeTrue(Epoll.isAvailable() && !"false".equals(System.getProperty("reactor.netty.native")),
				"the server runs on Netty's epoll transport");
		int calls = this.controlled.calls().size();
		double disconnected = disconnected();
		for (int round = 0; round < ROUNDS; round++) {
			try (HeldLoops held = HeldLoops.hold(this.resources)) {
				for (int client = 0; client < CLIENTS; client++) {
					startAndClose(0);
				}
			}
			double expected = disconnected + (double) (round + 1) * CLIENTS;
			Await.atMost(WAIT).until(() -> disconnected() >= expected);
			HeldLoops.drain(this.resources);
			assertThat(this.controlled.calls()).as("upstream calls after round %d", round).hasSize(calls);
		}
		assertThat(disconnected()).isEqualTo(disconnected + ROUNDS * CLIENTS);
		Await.atMost(WAIT).until(() -> this.slots.inUse() == 0 && this.slots.queued() == 0);
	}

	@Test
	void startsClosedAtRandomInstantsAroundTheirReadEndWithTheirSlotFreeAndNoCallOpen() throws Exception {
		// Not held: each client closes 0 to 2 ms after its request, before, while or after Scalpel
		// reads it. Whichever comes first, every stream ends client_disconnected, every call made is
		// closed, and no slot stays taken.
		SplittableRandom random = new SplittableRandom(23);
		double disconnected = disconnected();
		int clients = 200;
		for (int client = 0; client < clients; client++) {
			startAndClose(random.nextLong(2_000_000));
		}
		Await.atMost(WAIT).until(() -> disconnected() >= disconnected + clients);
		Await.atMost(WAIT).until(() -> this.controlled.open() == 0 && this.slots.inUse() == 0);
		assertThat(disconnected()).isEqualTo(disconnected + clients);
		assertThat(this.controlled.calls()).allSatisfy(call -> assertThat(call.closed()).isTrue());
	}

	private double disconnected() {
		return this.meters.get("scalpel.streams.finished").tag("reason", "client_disconnected").counter().count();
	}

	/** Writes a start that reads the stream, then closes the connection after the pause, unread. */
	private void startAndClose(long pauseNanos) throws IOException {
		byte[] body = "{\"model\":\"controlled\",\"prompt\":\"Gone already\"}".getBytes(StandardCharsets.UTF_8);
		String head = "POST /v1/streams HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
				+ "Accept: text/event-stream\r\nContent-Length: " + body.length + "\r\n\r\n";
		try (Socket socket = new Socket()) {
			socket.connect(new InetSocketAddress("127.0.0.1", this.port), 5_000);
			OutputStream out = socket.getOutputStream();
			out.write(head.getBytes(StandardCharsets.US_ASCII));
			out.write(body);
			out.flush();
			if (pauseNanos > 0) {
				LockSupport.parkNanos(pauseNanos);
			}
		}
	}

	/**
	 * Every event loop of the server (those of the application's {@link ReactorResourceFactory}, which
	 * its server runs on) held by a task until closed, so that connections made meanwhile are read only afterwards.
	 */
	private static final class HeldLoops implements AutoCloseable {

		private final CountDownLatch release = new CountDownLatch(1);

		static HeldLoops hold(ReactorResourceFactory resources) throws InterruptedException {
			HeldLoops held = new HeldLoops();
			List<EventExecutor> loops = loops(resources);
			CountDownLatch holding = new CountDownLatch(loops.size());
			for (EventExecutor loop : loops) {
				loop.execute(() -> {
					holding.countDown();
					held.holdLoop();
				});
			}
			assertThat(holding.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)).as("every loop held").isTrue();
			return held;
		}

		/** Blocks the event loop it runs on until released (BlockHound lets this method block). */
		private void holdLoop() {
			try {
				this.release.await(WAIT.toMillis(), TimeUnit.MILLISECONDS);
			}
			catch (InterruptedException ex) {
				Thread.currentThread().interrupt();
			}
		}

		/** Waits until every task queued on the loops so far has run. */
		static void drain(ReactorResourceFactory resources) throws Exception {
			for (EventExecutor loop : loops(resources)) {
				loop.submit(() -> null).get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
			}
		}

		private static List<EventExecutor> loops(ReactorResourceFactory resources) {
			EventLoopGroup group = resources.getLoopResources().onServer(true);
			List<EventExecutor> loops = new ArrayList<>();
			group.forEach(loops::add);
			return loops;
		}

		@Override
		public void close() {
			this.release.countDown();
		}

	}

}
