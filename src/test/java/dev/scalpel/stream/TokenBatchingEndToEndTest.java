package dev.scalpel.stream;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import reactor.core.publisher.Mono;
import reactor.netty.DisposableServer;
import reactor.netty.http.server.HttpServer;

import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

import dev.scalpel.support.ScalpelTest;
import dev.scalpel.upstream.fake.Endpoints;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * On the wire: a provider that sends a whole answer in one write gets it forwarded in a few writes,
 * not one per token (docs/adr/listener-batches.md). The client reads the raw HTTP/1.1 response and
 * counts its chunks: before listeners emitted batches, each of the 50 tokens was a chunk of its own.
 */
@ScalpelTest
class TokenBatchingEndToEndTest extends ApiEndToEndTest {

	private static final int TOKENS = 50;

	/** An OpenAI-compatible provider that answers every call with the whole stream in one buffer. */
	private static final DisposableServer provider = HttpServer.create()
		.host("127.0.0.1")
		.port(0)
		.handle((request, response) -> request.receive()
			.then(response.status(200)
				.header("content-type", "text/event-stream")
				.sendString(Mono.just(answer()))
				.then()))
		.bindNow(Duration.ofSeconds(10));

	@DynamicPropertySource
	static void endpoint(DynamicPropertyRegistry registry) {
		Endpoints.register(registry, 0, "whole", "openai", () -> "http://127.0.0.1:" + provider.port() + "/v1",
				null, "whole-answer");
	}

	@AfterAll
	static void stopProvider() {
		provider.disposeNow(Duration.ofSeconds(5));
	}

	@ParameterizedTest
	@ValueSource(strings = { "/v1/streams", "/v1/chat/completions" })
	void theTokensOfOneProviderWriteLeaveInAFewChunks(String path) throws IOException {
		String body = path.equals("/v1/streams") ? "{\"model\":\"whole-answer\",\"prompt\":\"hi\"}"
				: "{\"model\":\"whole-answer\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
		List<String> chunks = chunks(post(path, body));
		String all = String.join("", chunks);

		for (int i = 0; i < TOKENS; i++) {
			assertThat(all).contains("zq" + i + " ");
		}
		assertThat(all.indexOf("zq0 ")).isLessThan(all.indexOf("zq" + (TOKENS - 1) + " "));
		long tokenChunks = chunks.stream().filter(chunk -> chunk.contains("zq")).count();
		// One upstream write may arrive in a few reads; each read's tokens leave together.
		assertThat(tokenChunks).as("chunks carrying the %d tokens", TOKENS).isLessThanOrEqualTo(5);
	}

	private static String answer() {
		StringBuilder answer = new StringBuilder();
		answer.append(chunk("{\"role\":\"assistant\",\"content\":\"\"}", "null"));
		for (int i = 0; i < TOKENS; i++) {
			answer.append(chunk("{\"content\":\"zq" + i + " \"}", "null"));
		}
		answer.append(chunk("{}", "\"stop\""));
		return answer.append("data: [DONE]\n\n").toString();
	}

	private static String chunk(String delta, String finish) {
		return "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":"
				+ delta + ",\"finish_reason\":" + finish + "}]}\n\n";
	}

	/** The raw response to a POST, read to its end (the server closes the connection). */
	private byte[] post(String path, String body) throws IOException {
		byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
		try (Socket socket = new Socket("127.0.0.1", this.port)) {
			socket.setSoTimeout(10_000);
			OutputStream out = socket.getOutputStream();
			out.write(("POST " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
					+ "Accept: text/event-stream\r\nConnection: close\r\nContent-Length: " + bytes.length + "\r\n\r\n")
				.getBytes(StandardCharsets.US_ASCII));
			out.write(bytes);
			out.flush();
			return socket.getInputStream().readAllBytes();
		}
	}

	/** The chunks of a chunked HTTP/1.1 response, as text. */
	private static List<String> chunks(byte[] response) throws IOException {
		InputStream in = new java.io.ByteArrayInputStream(response);
		String status = line(in);
		assertThat(status).startsWith("HTTP/1.1 200");
		boolean chunked = false;
		for (String header = line(in); !header.isEmpty(); header = line(in)) {
			chunked |= header.toLowerCase().startsWith("transfer-encoding:") && header.toLowerCase().contains("chunked");
		}
		assertThat(chunked).as("a chunked response").isTrue();
		List<String> chunks = new ArrayList<>();
		for (int size = Integer.parseInt(line(in).trim(), 16); size > 0; size = Integer.parseInt(line(in).trim(), 16)) {
			chunks.add(new String(in.readNBytes(size), StandardCharsets.UTF_8));
			line(in);
		}
		return chunks;
	}

	private static String line(InputStream in) throws IOException {
		ByteArrayOutputStream line = new ByteArrayOutputStream();
		for (int b = in.read(); b != '\n' && b != -1; b = in.read()) {
			if (b != '\r') {
				line.write(b);
			}
		}
		return line.toString(StandardCharsets.US_ASCII);
	}

}
