package dev.scalpel.support;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;

import redis.embedded.RedisServer;
import redis.embedded.core.RedisServerBuilder;

/**
 * A real Redis server for a test, on a free port of 127.0.0.1, without persistence. The binary: the
 * one named by {@code SCALPEL_TEST_REDIS_SERVER}, else {@code redis-server} on the PATH, else the
 * {@code redis-server} 6.2 that {@code com.github.codemonstur:embedded-redis} ships in its jar (so the
 * README's test command needs nothing installed). Which one ran is printed.
 */
public final class TestRedis implements AutoCloseable {

	private final int port;

	private final String source;

	private RedisServer server;

	private TestRedis(int port) {
		this.port = port;
		File system = systemServer();
		this.source = (system != null) ? system.getAbsolutePath() : "embedded-redis (redis-server 6.2)";
		this.server = build(system);
	}

	/** Starts a server; stop it with {@link #close()}. */
	public static TestRedis start() {
		TestRedis redis = new TestRedis(freePort());
		redis.startServer();
		System.out.println("TestRedis: " + redis.source + " on port " + redis.port);
		return redis;
	}

	public String url() {
		return "redis://127.0.0.1:" + this.port;
	}

	public int port() {
		return this.port;
	}

	public String source() {
		return this.source;
	}

	/** Stops the server (its data is gone: no persistence). */
	public void stop() {
		try {
			this.server.stop();
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

	/** Starts it again, empty, on the same port. */
	public void restart() {
		this.server = build(systemServer());
		startServer();
	}

	@Override
	public void close() {
		stop();
	}

	private void startServer() {
		try {
			this.server.start();
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

	private RedisServer build(File system) {
		try {
			RedisServerBuilder builder = RedisServer.newRedisServer()
				.port(this.port)
				.bind("127.0.0.1")
				.setting("save \"\"")
				.setting("appendonly no");
			if (system != null) {
				builder.executableProvider(() -> system);
			}
			return builder.build();
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

	private static File systemServer() {
		String named = System.getenv("SCALPEL_TEST_REDIS_SERVER");
		if (named != null && !named.isBlank()) {
			return new File(named);
		}
		String path = System.getenv("PATH");
		if (path != null) {
			for (String directory : path.split(File.pathSeparator)) {
				Path candidate = Path.of(directory, "redis-server");
				if (Files.isExecutable(candidate)) {
					return candidate.toFile();
				}
			}
		}
		return null;
	}

	private static int freePort() {
		try (ServerSocket socket = new ServerSocket(0)) {
			return socket.getLocalPort();
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

}
