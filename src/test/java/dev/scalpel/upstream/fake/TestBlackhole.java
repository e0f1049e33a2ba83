package dev.scalpel.upstream.fake;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * An address where a TCP connect hangs: a listening socket that never accepts, with its accept queue
 * filled, so the kernel drops further SYNs and a client's connect stays pending (SYN_SENT) until the
 * client gives up. {@link #pendingConnects()} reads the client sockets still trying from
 * {@code /proc/net/tcp}, which is how a test sees that Scalpel abandoned a connect.
 */
public final class TestBlackhole implements AutoCloseable {

	private final ServerSocket server;

	private final List<Socket> fillers = new ArrayList<>();

	private TestBlackhole(ServerSocket server) {
		this.server = server;
	}

	/** Opens one on loopback and fills its accept queue. */
	public static TestBlackhole open() {
		try {
			InetAddress loopback = InetAddress.getByName("127.0.0.1");
			TestBlackhole hole = new TestBlackhole(new ServerSocket(0, 1, loopback));
			InetSocketAddress address = new InetSocketAddress(loopback, hole.port());
			for (int i = 0; i < 16; i++) {
				Socket filler = new Socket();
				try {
					filler.connect(address, 200);
					hole.fillers.add(filler);
				}
				catch (SocketTimeoutException full) {
					filler.close();
					return hole;
				}
			}
			hole.close();
			throw new IllegalStateException("The accept queue of the blackhole did not fill up");
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

	public int port() {
		return this.server.getLocalPort();
	}

	/** A base URL whose connects hang. */
	public String baseUrl() {
		return "http://127.0.0.1:" + port() + "/v1";
	}

	/**
	 * Client sockets on this machine still trying to connect here (state SYN_SENT), IPv4 and IPv6 (a
	 * dual-stack socket connecting to 127.0.0.1 is listed in {@code /proc/net/tcp6}).
	 */
	public int pendingConnects() {
		String remote = String.format(Locale.ROOT, ":%04X", port());
		try {
			int pending = 0;
			for (String table : new String[] { "/proc/net/tcp", "/proc/net/tcp6" }) {
				Path path = Path.of(table);
				if (!Files.exists(path)) {
					continue;
				}
				for (String line : Files.readAllLines(path)) {
					String[] fields = line.trim().split("\\s+");
					if (fields.length > 3 && fields[2].endsWith(remote) && "02".equals(fields[3])) {
						pending++;
					}
				}
			}
			return pending;
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

	@Override
	public void close() {
		for (Socket filler : this.fillers) {
			try {
				filler.close();
			}
			catch (IOException ignored) {
				// Closing a test socket.
			}
		}
		try {
			this.server.close();
		}
		catch (IOException ignored) {
			// Closing a test socket.
		}
	}

}
