package dev.scalpel.bench;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.HdrHistogram.ConcurrentHistogram;
import org.HdrHistogram.Histogram;
import org.jspecify.annotations.Nullable;

/**
 * Measures the cancel round trip from a client that is not itself starved: one thread, blocking
 * HTTP/1.1 on one kept-alive connection, that starts a background stream, waits, cancels it and
 * times the cancel, at a fixed rate. The thread runs under {@code SCHED_FIFO} ({@code chrt}) when
 * the machine allows it, so it runs the moment its answer arrives, ahead of the load generator and
 * the upstream server that share its core and keep that core busy: the figure is then Scalpel's
 * (its event loop and the loopback), not the rig's. Where {@code chrt} is refused, it runs at normal
 * priority and {@link #priority()} says so.
 */
final class CancelProbe implements AutoCloseable {

	private final String host;

	private final int port;

	private final @Nullable String key;

	private final Duration interval;

	private final Duration cancelAfter;

	private final Thread thread;

	private volatile boolean running = true;

	private volatile String priority = "starting";

	private volatile @Nullable String failure;

	/** Cancel round trips of answered cancels, in microseconds. */
	final Histogram cancels = new ConcurrentHistogram(3);

	private CancelProbe(String baseUrl, @Nullable String key, Duration interval, Duration cancelAfter) {
		java.net.URI uri = java.net.URI.create(baseUrl);
		this.host = uri.getHost();
		this.port = uri.getPort();
		this.key = key;
		this.interval = interval;
		this.cancelAfter = cancelAfter;
		this.thread = new Thread(this::run, "cancel-probe");
		this.thread.setDaemon(true);
	}

	/** Starts probing: a stream started and cancelled {@code cancelAfter} later, every {@code interval}. */
	static CancelProbe start(String baseUrl, @Nullable String key, Duration interval, Duration cancelAfter) {
		CancelProbe probe = new CancelProbe(baseUrl, key, interval, cancelAfter);
		probe.thread.start();
		return probe;
	}

	/** How the probe thread was scheduled: "SCHED_FIFO" or why not. */
	String priority() {
		return this.priority;
	}

	/** Why the probe stopped early, or null. */
	@Nullable String failure() {
		return this.failure;
	}

	void reset() {
		this.cancels.reset();
	}

	private void run() {
		this.priority = realTime();
		int n = 0;
		long next = System.nanoTime();
		try (Socket socket = new Socket()) {
			socket.setTcpNoDelay(true);
			socket.connect(new InetSocketAddress(this.host, this.port), 10_000);
			socket.setSoTimeout(30_000);
			OutputStream out = socket.getOutputStream();
			InputStream in = new BufferedInputStream(socket.getInputStream());
			while (this.running) {
				String body = "{\"model\":\"bench\",\"prompt\":\"probe-" + (n++) + "\",\"background\":true}";
				Response started = exchange(out, in, "POST", "/v1/streams", body);
				String id = started.streamId();
				if (started.status() == 202 && id != null) {
					sleepUntil(System.nanoTime() + this.cancelAfter.toNanos());
					long sent = System.nanoTime();
					Response cancelled = exchange(out, in, "POST", "/v1/streams/" + id + "/cancel", null);
					long took = System.nanoTime() - sent;
					if (cancelled.status() == 200) {
						this.cancels.recordValue(Math.max(0, took / 1000));
					}
				}
				next += this.interval.toNanos();
				sleepUntil(Math.max(next, System.nanoTime()));
			}
		}
		catch (IOException | RuntimeException ex) {
			if (this.running) {
				this.failure = ex.toString();
			}
		}
	}

	private void sleepUntil(long deadline) {
		long wait;
		while (this.running && (wait = deadline - System.nanoTime()) > 0) {
			try {
				TimeUnit.NANOSECONDS.sleep(wait);
			}
			catch (InterruptedException ex) {
				Thread.currentThread().interrupt();
				return;
			}
		}
	}

	/** Status and stream id of one answer, read whole (Content-Length or chunked). */
	private record Response(int status, @Nullable String streamId) {
	}

	private Response exchange(OutputStream out, InputStream in, String method, String path, @Nullable String body)
			throws IOException {
		byte[] content = (body != null) ? body.getBytes(StandardCharsets.UTF_8) : new byte[0];
		StringBuilder head = new StringBuilder(method).append(' ').append(path).append(" HTTP/1.1\r\nHost: ")
			.append(this.host).append(':').append(this.port).append("\r\nAccept: application/json\r\n");
		if (body != null) {
			head.append("Content-Type: application/json\r\n");
		}
		if (this.key != null) {
			head.append("Authorization: Bearer ").append(this.key).append("\r\n");
		}
		head.append("Content-Length: ").append(content.length).append("\r\n\r\n");
		ByteArrayOutputStream request = new ByteArrayOutputStream();
		request.writeBytes(head.toString().getBytes(StandardCharsets.US_ASCII));
		request.writeBytes(content);
		out.write(request.toByteArray());
		out.flush();
		String statusLine = line(in);
		int status = Integer.parseInt(statusLine.split(" ")[1]);
		long length = 0;
		boolean chunked = false;
		String streamId = null;
		for (String header = line(in); !header.isEmpty(); header = line(in)) {
			int colon = header.indexOf(':');
			String name = header.substring(0, colon).strip().toLowerCase(Locale.ROOT);
			String value = header.substring(colon + 1).strip();
			switch (name) {
				case "content-length" -> length = Long.parseLong(value);
				case "transfer-encoding" -> chunked = value.toLowerCase(Locale.ROOT).contains("chunked");
				case "x-stream-id" -> streamId = value;
				default -> {
				}
			}
		}
		if (chunked) {
			for (long size = Long.parseLong(line(in).split(";")[0].strip(), 16); size > 0; size = Long
				.parseLong(line(in).split(";")[0].strip(), 16)) {
				skip(in, size);
				line(in);
			}
			line(in);
		}
		else {
			skip(in, length);
		}
		return new Response(status, streamId);
	}

	private static String line(InputStream in) throws IOException {
		StringBuilder line = new StringBuilder();
		for (int b = in.read(); b != '\n'; b = in.read()) {
			if (b < 0) {
				throw new IOException("Connection closed by Scalpel");
			}
			if (b != '\r') {
				line.append((char) b);
			}
		}
		return line.toString();
	}

	private static void skip(InputStream in, long bytes) throws IOException {
		for (long left = bytes; left > 0; left--) {
			if (in.read() < 0) {
				throw new IOException("Connection closed by Scalpel");
			}
		}
	}

	/** Puts this thread under SCHED_FIFO with chrt; says how it went. */
	private static String realTime() {
		Path chrt = Path.of("/usr/bin/chrt");
		if (!Files.isExecutable(chrt)) {
			return "normal (no chrt)";
		}
		Long tid = nativeThreadId("cancel-probe");
		if (tid == null) {
			return "normal (thread not found in /proc)";
		}
		try {
			Process process = new ProcessBuilder(chrt.toString(), "-f", "-p", "10", Long.toString(tid))
				.redirectErrorStream(true)
				.start();
			String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
			return (process.waitFor() == 0) ? "SCHED_FIFO" : "normal (chrt: " + output + ")";
		}
		catch (IOException ex) {
			return "normal (" + ex.getMessage() + ")";
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
			return "normal (interrupted)";
		}
	}

	/** The Linux thread id of the calling thread, found by its name in /proc/self/task. */
	private static @Nullable Long nativeThreadId(String name) {
		try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task"))) {
			return tasks.filter(task -> {
				try {
					return Files.readString(task.resolve("comm")).strip().equals(name);
				}
				catch (IOException ex) {
					return false;
				}
			}).map(task -> Long.parseLong(task.getFileName().toString())).findFirst().orElse(null);
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

	@Override
	public void close() {
		this.running = false;
		this.thread.interrupt();
		try {
			this.thread.join(10_000);
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
		}
	}

}
