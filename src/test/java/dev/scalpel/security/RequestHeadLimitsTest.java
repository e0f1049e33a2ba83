package dev.scalpel.security;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;

import org.springframework.beans.factory.annotation.Value;

import dev.scalpel.support.ScalpelTest;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Requests only a raw socket sends. The bounds on a request's head (server.max-http-request-header-size 8KB,
 * server.netty.max-initial-line-length 4KB), sent over a raw socket as a hostile client would: an
 * over-long header is {@code 431}, an over-long request line {@code 414}, neither a 5xx, and the
 * server goes on answering normally; odd request lines get a problem detail.
 */
@ScalpelTest
class RequestHeadLimitsTest {

	@Value("${local.server.port}")
	int port;

	@Test
	void anOverLongHeaderIs431() throws IOException {
		String head = "GET /v1/streams HTTP/1.1\r\nHost: localhost\r\nX-Filler: " + "a".repeat(9 * 1024)
				+ "\r\nConnection: close\r\n\r\n";
		assertThat(statusOf(head)).isEqualTo(431);
		assertThat(statusOf(normal())).isEqualTo(200);
	}

	@Test
	void manyHeadersTogetherOverTheLimitAre431() throws IOException {
		StringBuilder head = new StringBuilder("GET /v1/streams HTTP/1.1\r\nHost: localhost\r\n");
		for (int i = 0; i < 200; i++) {
			head.append("X-H").append(i).append(": ").append("b".repeat(60)).append("\r\n");
		}
		head.append("Connection: close\r\n\r\n");
		assertThat(statusOf(head.toString())).isEqualTo(431);
		assertThat(statusOf(normal())).isEqualTo(200);
	}

	@Test
	void anOverLongRequestLineIs414() throws IOException {
		String head = "GET /v1/streams?after=" + "c".repeat(5 * 1024) + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
		assertThat(statusOf(head)).isEqualTo(414);
		assertThat(statusOf(normal())).isEqualTo(200);
	}

	@Test
	void aHeaderWithAControlCharacterIsRefusedNotServed() throws IOException {
		String head = "GET /v1/streams HTTP/1.1\r\nHost: localhost\r\nX-Bad: a\u0000b\r\nConnection: close\r\n\r\n";
		assertThat(statusOf(head)).isBetween(400, 499);
		assertThat(statusOf(normal())).isEqualTo(200);
	}

	/**
	 * Found by the hostile-input property test: the problem's {@code instance} was built from the path
	 * with {@code URI.create}, which reads {@code //} as an empty authority and threw (a 500).
	 */
	@Test
	void aPathOfTwoSlashesIsAProblemNotAnError() throws IOException {
		for (String path : new String[] { "//", "//?x=1" }) {
			String answer = answerTo("GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
			assertThat(answer).as(path).startsWith("HTTP/1.1 4").contains("application/problem+json");
		}
	}

	private static String normal() {
		return "GET /v1/streams HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\nConnection: close\r\n\r\n";
	}

	/** Sends the bytes and reads the whole answer (bounded by a read timeout; the server closes). */
	private String answerTo(String request) throws IOException {
		try (Socket socket = new Socket("localhost", this.port)) {
			socket.setSoTimeout(10_000);
			socket.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
			socket.getOutputStream().flush();
			return new String(socket.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
		}
	}

	/** Sends the bytes and reads the status code of the answer (bounded by a read timeout). */
	private int statusOf(String request) throws IOException {
		try (Socket socket = new Socket("localhost", this.port)) {
			socket.setSoTimeout(10_000);
			OutputStream out = socket.getOutputStream();
			out.write(request.getBytes(StandardCharsets.ISO_8859_1));
			out.flush();
			InputStream in = socket.getInputStream();
			StringBuilder line = new StringBuilder();
			for (int next = in.read(); next != -1 && next != '\n'; next = in.read()) {
				line.append((char) next);
			}
			assertThat(line.toString()).as("status line").startsWith("HTTP/1.1 ");
			return Integer.parseInt(line.substring(9, 12));
		}
	}

}
