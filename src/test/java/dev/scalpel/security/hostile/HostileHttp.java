package dev.scalpel.security.hostile;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.jspecify.annotations.Nullable;

/**
 * A raw HTTP/1.1 client for {@code HostileInputPropertyTest}: it writes exactly the bytes it is given
 * (any method, request target, header bytes and body framing, which higher-level clients refuse to
 * send) on a new connection, and reads one response within a hard deadline. An event stream is
 * either closed right after its head or, when asked, read to its end. Interim {@code 1xx} answers
 * (e.g. to {@code Expect: 100-continue}) are skipped.
 */
public final class HostileHttp {

	private static final int MAX_HEAD = 64 * 1024;

	private static final int MAX_BODY = 8 * 1024 * 1024;

	private HostileHttp() {
	}

	/**
	 * What the service answered: its status line, its headers (names lower-cased) and its body (empty
	 * for {@code HEAD}, and for an event stream closed after its head).
	 */
	public record Response(String statusLine, int status, Map<String, List<String>> headers, byte[] body) {

		@Nullable String header(String name) {
			List<String> values = this.headers.get(name.toLowerCase(Locale.ROOT));
			return (values == null || values.isEmpty()) ? null : values.get(0);
		}

		@Nullable String contentType() {
			return header("Content-Type");
		}

		boolean eventStream() {
			String type = contentType();
			return type != null && type.toLowerCase(Locale.ROOT).startsWith("text/event-stream");
		}

		String text() {
			return new String(this.body, StandardCharsets.UTF_8);
		}

		/** The status line, the content type and the start of the body, for failure messages. */
		String summary() {
			String text = text();
			return this.statusLine + " [" + contentType() + "] " + HostileHttp.printable(text, 600);
		}

	}

	/** No complete answer within the deadline: the service hangs on this request. */
	public static final class Timeout extends IOException {

		private static final long serialVersionUID = 1L;

		Timeout(String message) {
			super(message);
		}

	}

	/** The connection ended (closed or reset) before a complete answer. */
	public static final class NoResponse extends IOException {

		private static final long serialVersionUID = 1L;

		NoResponse(String message, @Nullable Throwable cause) {
			super(message, cause);
		}

	}

	/**
	 * Sends {@code request} on a new connection to {@code localhost:port} and reads the answer.
	 * @param head whether the request was a {@code HEAD} (the answer has no body)
	 * @param readEventStream whether to read an event stream to its end rather than close it after its
	 * head
	 * @param timeout the bound on the whole exchange
	 */
	public static Response exchange(int port, byte[] request, boolean head, boolean readEventStream, Duration timeout)
			throws IOException {
		long deadline = System.nanoTime() + timeout.toNanos();
		try (Socket socket = new Socket()) {
			socket.setTcpNoDelay(true);
			socket.connect(new InetSocketAddress("localhost", port), (int) timeout.toMillis());
			IOException writeFailure = null;
			try {
				OutputStream out = socket.getOutputStream();
				out.write(request);
				out.flush();
			}
			catch (IOException ex) {
				// The server may answer (e.g. 413, 431) and close before it has read everything: read that.
				writeFailure = ex;
			}
			Input in = new Input(socket, deadline, timeout);
			try {
				while (true) {
					String statusLine = in.line();
					if (statusLine.isEmpty()) {
						continue;
					}
					int status = parseStatus(statusLine);
					Map<String, List<String>> headers = headers(in);
					if (status >= 100 && status < 200 && status != 101) {
						// An interim answer (100 Continue); the real one follows.
						continue;
					}
					Response response = new Response(statusLine, status, headers, new byte[0]);
					if (head || status == 204 || status == 304) {
						return response;
					}
					if (response.eventStream() && !readEventStream) {
						// A live stream stays open: the head is the answer; closing is the client leaving.
						return response;
					}
					return new Response(statusLine, status, headers, body(in, response));
				}
			}
			catch (NoResponse ex) {
				if (writeFailure != null) {
					ex.addSuppressed(writeFailure);
				}
				throw ex;
			}
		}
	}

	private static int parseStatus(String statusLine) throws NoResponse {
		String[] parts = statusLine.split(" ", 3);
		if (parts.length < 2 || !parts[0].startsWith("HTTP/1.")) {
			throw new NoResponse("not an HTTP/1.x status line: " + printable(statusLine, 200), null);
		}
		try {
			return Integer.parseInt(parts[1]);
		}
		catch (NumberFormatException ex) {
			throw new NoResponse("not an HTTP/1.x status line: " + printable(statusLine, 200), ex);
		}
	}

	private static Map<String, List<String>> headers(Input in) throws IOException {
		Map<String, List<String>> headers = new LinkedHashMap<>();
		int size = 0;
		for (String line = in.line(); !line.isEmpty(); line = in.line()) {
			size += line.length();
			if (size > MAX_HEAD) {
				throw new NoResponse("response head larger than " + MAX_HEAD + " bytes", null);
			}
			int colon = line.indexOf(':');
			if (colon <= 0) {
				throw new NoResponse("malformed response header: " + printable(line, 200), null);
			}
			headers.computeIfAbsent(line.substring(0, colon).trim().toLowerCase(Locale.ROOT), name -> new ArrayList<>())
				.add(line.substring(colon + 1).trim());
		}
		return headers;
	}

	private static byte[] body(Input in, Response response) throws IOException {
		String encoding = response.header("Transfer-Encoding");
		if (encoding != null && encoding.toLowerCase(Locale.ROOT).contains("chunked")) {
			ByteArrayOutputStream body = new ByteArrayOutputStream();
			while (true) {
				String sizeLine = in.line();
				int semicolon = sizeLine.indexOf(';');
				int size;
				try {
					size = Integer.parseInt(((semicolon >= 0) ? sizeLine.substring(0, semicolon) : sizeLine).trim(), 16);
				}
				catch (NumberFormatException ex) {
					throw new NoResponse("malformed chunk size: " + printable(sizeLine, 100), ex);
				}
				if (size == 0) {
					for (String trailer = in.line(); !trailer.isEmpty(); trailer = in.line()) {
						// Trailers carry nothing this test reads.
					}
					return body.toByteArray();
				}
				if (body.size() + size > MAX_BODY) {
					throw new NoResponse("response body larger than " + MAX_BODY + " bytes", null);
				}
				body.write(in.bytes(size));
				in.line();
			}
		}
		String length = response.header("Content-Length");
		if (length != null) {
			int size;
			try {
				size = Integer.parseInt(length.trim());
			}
			catch (NumberFormatException ex) {
				throw new NoResponse("malformed Content-Length: " + length, ex);
			}
			if (size > MAX_BODY) {
				throw new NoResponse("response body larger than " + MAX_BODY + " bytes", null);
			}
			return in.bytes(size);
		}
		// Neither: the body ends when the server closes the connection (it was asked to).
		return in.rest(MAX_BODY);
	}

	/** Text with control characters escaped, cut to {@code max} characters. */
	static String printable(String text, int max) {
		StringBuilder out = new StringBuilder();
		for (int i = 0; i < text.length() && out.length() < max; i++) {
			char c = text.charAt(i);
			if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || Character.isSurrogate(c)) {
				out.append(String.format("\\u%04x", (int) c));
			}
			else {
				out.append(c);
			}
		}
		if (out.length() >= max && text.length() > max) {
			out.append("…(").append(text.length()).append(" chars)");
		}
		return out.toString();
	}

	/** The connection's input, every read bounded by the exchange's deadline. */
	private static final class Input {

		private final Socket socket;

		private final InputStream in;

		private final long deadline;

		private final Duration timeout;

		Input(Socket socket, long deadline, Duration timeout) throws IOException {
			this.socket = socket;
			this.in = new BufferedInputStream(socket.getInputStream());
			this.deadline = deadline;
			this.timeout = timeout;
		}

		int read() throws IOException {
			long remaining = (this.deadline - System.nanoTime()) / 1_000_000;
			if (remaining <= 0) {
				throw new Timeout("no complete answer within " + this.timeout);
			}
			this.socket.setSoTimeout((int) Math.max(1, remaining));
			try {
				return this.in.read();
			}
			catch (SocketTimeoutException ex) {
				throw new Timeout("no complete answer within " + this.timeout);
			}
			catch (IOException ex) {
				throw new NoResponse("connection failed while reading: " + ex.getMessage(), ex);
			}
		}

		/** A line without its CRLF (or LF), as ISO-8859-1. */
		String line() throws IOException {
			StringBuilder line = new StringBuilder();
			while (true) {
				int b = read();
				if (b < 0) {
					throw new NoResponse("connection closed after " + line.length() + " bytes of a line: "
							+ printable(line.toString(), 200), null);
				}
				if (b == '\n') {
					int end = line.length();
					return (end > 0 && line.charAt(end - 1) == '\r') ? line.substring(0, end - 1) : line.toString();
				}
				if (line.length() > MAX_HEAD) {
					throw new NoResponse("response line longer than " + MAX_HEAD + " bytes", null);
				}
				line.append((char) b);
			}
		}

		byte[] bytes(int count) throws IOException {
			byte[] bytes = new byte[count];
			for (int i = 0; i < count; i++) {
				int b = read();
				if (b < 0) {
					throw new NoResponse("connection closed after " + i + " of " + count + " body bytes", null);
				}
				bytes[i] = (byte) b;
			}
			return bytes;
		}

		byte[] rest(int max) throws IOException {
			ByteArrayOutputStream rest = new ByteArrayOutputStream();
			for (int b = read(); b >= 0; b = read()) {
				if (rest.size() >= max) {
					throw new NoResponse("response body larger than " + max + " bytes", null);
				}
				rest.write(b);
			}
			return rest.toByteArray();
		}

	}

}
