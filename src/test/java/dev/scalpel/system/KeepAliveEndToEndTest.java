package dev.scalpel.system;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

import org.springframework.beans.factory.annotation.Value;

import dev.scalpel.support.ScalpelTest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * HTTP/1.1 keep-alive over a raw socket: every request on a kept-alive connection is answered,
 * whenever it arrives. Reactor Netty 1.3.6 stopped reading a connection when a request that had
 * waited behind the previous one was answered at once (reactor/reactor-netty#4361): the next request
 * on that connection was never read, and a client with a connection pool (as the cancel calls of
 * any SDK are) waited for an answer that never came. Scalpel's own tests met it as a status call
 * that timed out now and then, right after another request on the same pooled connection.
 */
@ScalpelTest
class KeepAliveEndToEndTest {

	/** How long one answer may take on a busy machine; it is a few milliseconds here. */
	private static final int READ_TIMEOUT_MS = 10_000;

	private static final String MODELS = "GET /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n";

	private static final String STATUS = "GET /v1/streams/str_00000000000000000000000000000000 HTTP/1.1\r\n"
			+ "Host: localhost\r\nAccept: application/json\r\n\r\n";

	@Value("${local.server.port}")
	int port;

	@RepeatedTest(20)
	void aRequestAfterTwoPipelinedOnesIsAnswered() throws IOException {
		try (Socket socket = connect()) {
			OutputStream out = socket.getOutputStream();
			InputStream in = socket.getInputStream();
			send(out, MODELS + STATUS);
			assertThat(readResponse(in, "first pipelined")).isEqualTo(200);
			assertThat(readResponse(in, "second pipelined")).isEqualTo(404);
			for (int i = 0; i < 5; i++) {
				send(out, MODELS);
				assertThat(readResponse(in, "request " + i + " after the pipelined pair")).isEqualTo(200);
			}
		}
	}

	@Test
	void hundredsOfRequestsInTurnOnOneConnectionAreAllAnswered() throws IOException {
		try (Socket socket = connect()) {
			OutputStream out = socket.getOutputStream();
			InputStream in = socket.getInputStream();
			for (int i = 0; i < 500; i++) {
				send(out, (i % 2 == 0) ? MODELS : STATUS);
				assertThat(readResponse(in, "request " + i)).isEqualTo((i % 2 == 0) ? 200 : 404);
			}
		}
	}

	@Test
	void aRequestRightAfterAStartOrTheApiDocumentIsAnswered() throws IOException {
		String body = "{\"prompt\":\"Hi\",\"max_tokens\":2,\"background\":true}";
		String start = "POST /v1/streams HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
				+ "Accept: application/json\r\nContent-Length: " + body.length() + "\r\n\r\n" + body;
		String docs = "GET /v3/api-docs HTTP/1.1\r\nHost: localhost\r\n\r\n";
		try (Socket socket = connect()) {
			OutputStream out = socket.getOutputStream();
			InputStream in = socket.getInputStream();
			for (int i = 0; i < 100; i++) {
				send(out, (i % 10 == 0) ? docs : start);
				assertThat(readResponse(in, "first " + i)).isIn(200, 202);
				send(out, (i % 2 == 0) ? MODELS : STATUS);
				assertThat(readResponse(in, "request " + i + " right after")).isIn(200, 404);
			}
		}
	}

	@Test
	void manyPipelinedRequestsAreAnsweredInOrderAndTheConnectionGoesOn() throws IOException {
		try (Socket socket = connect()) {
			OutputStream out = socket.getOutputStream();
			InputStream in = socket.getInputStream();
			for (int round = 0; round < 20; round++) {
				send(out, MODELS + STATUS + MODELS + STATUS);
				for (int i = 0; i < 4; i++) {
					assertThat(readResponse(in, "round " + round + ", request " + i)).isEqualTo((i % 2 == 0) ? 200 : 404);
				}
			}
		}
	}

	private Socket connect() throws IOException {
		Socket socket = new Socket("localhost", this.port);
		socket.setSoTimeout(READ_TIMEOUT_MS);
		socket.setTcpNoDelay(true);
		return socket;
	}

	private static void send(OutputStream out, String requests) throws IOException {
		out.write(requests.getBytes(StandardCharsets.US_ASCII));
		out.flush();
	}

	/** Reads one response (head, then a body by Content-Length or chunks) and returns its status. */
	private static int readResponse(InputStream in, String what) throws IOException {
		try {
			String head = readHead(in);
			int status = Integer.parseInt(head.substring(9, 12));
			String lower = head.toLowerCase(Locale.ROOT);
			if (lower.contains("\r\ntransfer-encoding: chunked")) {
				while (true) {
					int size = Integer.parseInt(readLine(in).trim(), 16);
					in.readNBytes(size);
					readLine(in);
					if (size == 0) {
						break;
					}
				}
			}
			else {
				int at = lower.indexOf("\r\ncontent-length:");
				assertThat(at).as(what + ": a length or chunks in " + head).isNotNegative();
				int end = lower.indexOf("\r\n", at + 2);
				int length = Integer.parseInt(lower.substring(at + "\r\ncontent-length:".length(), end).trim());
				assertThat(in.readNBytes(length)).as(what + ": the body").hasSize(length);
			}
			return status;
		}
		catch (SocketTimeoutException ex) {
			return fail(what + ": no answer within " + READ_TIMEOUT_MS + " ms on a kept-alive connection");
		}
	}

	private static String readHead(InputStream in) throws IOException {
		ByteArrayOutputStream head = new ByteArrayOutputStream();
		int last4 = 0;
		while (last4 != 0x0d0a0d0a) {
			int b = in.read();
			if (b < 0) {
				throw new IOException("the server closed the connection; read so far: " + head);
			}
			head.write(b);
			last4 = (last4 << 8) | b;
		}
		return head.toString(StandardCharsets.US_ASCII);
	}

	private static String readLine(InputStream in) throws IOException {
		StringBuilder line = new StringBuilder();
		int previous = -1;
		while (true) {
			int b = in.read();
			if (b < 0) {
				throw new IOException("the server closed the connection in a chunked body");
			}
			if (previous == '\r' && b == '\n') {
				return line.substring(0, line.length() - 1);
			}
			line.append((char) b);
			previous = b;
		}
	}

}
