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
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.UnaryOperator;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
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
		List<Long> turns = acceptTurns(server -> sockets.acceptsPerTurn(new AcceptProperties(256)).apply(server));
		assertThat(turns).hasSize(WAITING);
		assertThat(turns.stream().distinct().count()).as("reads of the server channel that accepted them").isLessThanOrEqualTo(2);
	}

	@Test
	void nettysOwnDefaultDoesNotAcceptThemInOneTurn() throws Exception {
		// What the setting fixes: without it the same connections take a read each (one per turn of the
		// loop), or some are not accepted at all until another connection arrives.
		List<Long> turns = acceptTurns(UnaryOperator.identity());
		assertThat(turns.size() < WAITING || turns.stream().distinct().count() > 2)
			.as("accepted %s of %s, in %s reads", turns.size(), WAITING, turns.stream().distinct().count())
			.isTrue();
	}

	/**
	 * Starts a server on one event loop, holds that loop busy while {@link #WAITING} connections to it
	 * complete their handshakes, then lets it go and returns, for each connection accepted within 5 s in
	 * the order it was accepted, the number of the server channel's read that accepted it (Netty's read loop ends each
	 * read with a read-complete): equal numbers, one read in one turn of the loop.
	 */
	private static List<Long> acceptTurns(UnaryOperator<HttpServer> customizer) throws Exception {
		LoopResources loops = LoopResources.create("accept-test", 1, true);
		AtomicLong reads = new AtomicLong();
		List<Long> accepted = new CopyOnWriteArrayList<>();
		CountDownLatch all = new CountDownLatch(WAITING);
		DisposableServer server = customizer.apply(plainServer().runOn(loops)).bindNow(Duration.ofSeconds(10));
		// On the server channel itself, before its acceptor: called in the accept loop, once per connection.
		server.channel().pipeline().addFirst(new ChannelInboundHandlerAdapter() {
			@Override
			public void channelRead(ChannelHandlerContext context, Object child) {
				accepted.add(reads.get());
				all.countDown();
				context.fireChannelRead(child);
			}

			@Override
			public void channelReadComplete(ChannelHandlerContext context) {
				reads.incrementAndGet();
				context.fireChannelReadComplete();
			}
		});
		CountDownLatch holding = new CountDownLatch(1);
		AtomicBoolean connected = new AtomicBoolean();
		EventLoop loop = server.channel().eventLoop();
		List<Socket> clients = new ArrayList<>();
		try {
			loop.execute(() -> {
				holding.countDown();
				// A plain busy wait: BlockHound counts sleeping and Thread.onSpinWait on an event loop as blocking.
				long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
				while (!connected.get() && System.nanoTime() < deadline) {
					// Waiting for the connections.
				}
			});
			// Connect only once the loop holds: it runs the handler's addition before this task, and a
			// connection it accepted before either (a loop's turn does its I/O before its tasks) would pass
			// the handler uncounted, and would not have waited.
			assertThat(holding.await(10, TimeUnit.SECONDS)).as("the loop started holding").isTrue();
			for (int i = 0; i < WAITING; i++) {
				Socket client = new Socket();
				client.connect(new InetSocketAddress("127.0.0.1", server.port()), 5000);
				clients.add(client);
			}
			connected.set(true);
			all.await(5, TimeUnit.SECONDS);
			return List.copyOf(accepted);
		}
		finally {
			connected.set(true);
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
