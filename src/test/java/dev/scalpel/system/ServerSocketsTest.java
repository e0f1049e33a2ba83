package dev.scalpel.system;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.UnaryOperator;

import io.netty.channel.EventLoop;
import io.netty.channel.MaxMessagesRecvByteBufAllocator;
import org.junit.jupiter.api.Test;
import reactor.netty.DisposableServer;
import reactor.netty.http.server.HttpServer;
import reactor.netty.resources.LoopResources;

import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.reactor.netty.NettyReactiveWebServerFactory;
import org.springframework.boot.reactor.netty.NettyServerCustomizer;

import dev.scalpel.support.ScalpelTest;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The application's server accepts up to {@code scalpel.server.accepts-per-turn} waiting connections
 * per turn of its event loop, where Netty's epoll server accepts one: checked on real sockets, with
 * the server's one event loop kept busy (as a core full of streams keeps it) while connections wait.
 */
@ScalpelTest
class ServerSocketsTest {

	private static final int WAITING = 50;

	/** Where the busy loop's count goes, so that the JIT cannot drop the loop. */
	private static final AtomicLong SPINS = new AtomicLong();

	@Autowired
	NettyReactiveWebServerFactory factory;

	@Test
	void theApplicationsServerIsConfiguredWithTheSetting() {
		HttpServer server = plainServer();
		for (NettyServerCustomizer customizer : this.factory.getServerCustomizers()) {
			server = customizer.apply(server);
		}
		DisposableServer bound = server.bindNow(Duration.ofSeconds(10));
		try {
			assertThat(((MaxMessagesRecvByteBufAllocator) bound.channel().config().getRecvByteBufAllocator())
				.maxMessagesPerRead()).isEqualTo(256);
		}
		finally {
			bound.disposeNow(Duration.ofSeconds(10));
		}
	}

	@Test
	void waitingConnectionsAreAcceptedInOneTurnOfABusyLoop() throws Exception {
		ServerSockets sockets = new ServerSockets();
		List<Integer> turns = acceptTurns(server -> sockets.acceptsPerTurn(new AcceptProperties(256)).apply(server));
		assertThat(turns).hasSize(WAITING);
		assertThat(turns.get(turns.size() - 1) - turns.get(0)).as("busy turns between the first and last accept")
			.isLessThanOrEqualTo(2);
	}

	@Test
	void nettysOwnDefaultAcceptsOnePerTurn() throws Exception {
		// What the setting fixes: without it the same connections take a turn each.
		List<Integer> turns = acceptTurns(UnaryOperator.identity());
		assertThat(turns).hasSize(WAITING);
		assertThat(turns.get(turns.size() - 1) - turns.get(0)).isGreaterThanOrEqualTo(WAITING / 2);
	}

	/**
	 * Starts a server on one event loop that stays busy (a task spinning 5 ms, every millisecond), opens
	 * {@link #WAITING} connections to it at once, and returns, for each in the order it was accepted,
	 * how many busy tasks had run by then.
	 */
	private static List<Integer> acceptTurns(UnaryOperator<HttpServer> customizer) throws Exception {
		LoopResources loops = LoopResources.create("accept-test", 1, true);
		AtomicInteger busyRuns = new AtomicInteger();
		List<Integer> accepted = new CopyOnWriteArrayList<>();
		CountDownLatch all = new CountDownLatch(WAITING);
		DisposableServer server = customizer.apply(plainServer().runOn(loops)
			.doOnChannelInit((observer, channel, address) -> {
				accepted.add(busyRuns.get());
				all.countDown();
			})).bindNow(Duration.ofSeconds(10));
		AtomicBoolean busy = new AtomicBoolean(true);
		EventLoop loop = server.channel().eventLoop();
		List<Socket> clients = new ArrayList<>();
		try {
			Runnable spin = new Runnable() {
				@Override
				public void run() {
					// A plain busy loop: BlockHound counts sleeping and Thread.onSpinWait on an event loop as blocking.
					long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(5);
					long spins = 0;
					while (System.nanoTime() < until) {
						spins++;
					}
					SPINS.addAndGet(spins);
					busyRuns.incrementAndGet();
					if (busy.get()) {
						loop.schedule(this, 1, TimeUnit.MILLISECONDS);
					}
				}
			};
			loop.execute(spin);
			for (int i = 0; i < WAITING; i++) {
				Socket client = new Socket();
				client.connect(new InetSocketAddress("127.0.0.1", server.port()), 5000);
				clients.add(client);
			}
			assertThat(all.await(30, TimeUnit.SECONDS)).as("all connections accepted").isTrue();
			return List.copyOf(accepted);
		}
		finally {
			busy.set(false);
			for (Socket client : clients) {
				closeQuietly(client);
			}
			server.disposeNow(Duration.ofSeconds(10));
			loops.disposeLater().block(Duration.ofSeconds(10));
		}
	}

	private static HttpServer plainServer() {
		return HttpServer.create().host("127.0.0.1").port(0).handle((request, response) -> response.send());
	}

	private static void closeQuietly(Socket socket) {
		try {
			socket.close();
		}
		catch (IOException ignored) {
			// The test is over.
		}
	}

}
