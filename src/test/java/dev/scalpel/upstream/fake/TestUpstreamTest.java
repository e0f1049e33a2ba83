package dev.scalpel.upstream.fake;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.net.http.HttpResponse.BodyHandlers;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatExceptionOfType;
import static org.assertj.core.api.Assertions.fail;
import static org.assertj.core.api.Assertions.within;

/**
 * Checks {@link TestUpstream} with real sockets: the JDK's HTTP client where a whole answer is
 * read, raw sockets where the test needs to see the bytes as they come or close abruptly.
 */
class TestUpstreamTest {

	private static final HttpClient HTTP = HttpClient.newBuilder()
		.version(HttpClient.Version.HTTP_1_1)
		.connectTimeout(Duration.ofSeconds(2))
		.build();

	private static final Duration WAIT = Duration.ofSeconds(2);

	private static final String OPENAI = "/v1/chat/completions";

	private static final String ANTHROPIC = "/v1/messages";

	private static final String OPENAI_BODY = """
			{"model":"gpt-test","messages":[{"role":"user","content":"Hi"}],"stream":true}""";

	private static final String OPENAI_USAGE_BODY = """
			{"model":"gpt-test","messages":[{"role":"user","content":"Hi"}],"stream":true,\
			"stream_options":{"include_usage":true}}""";

	private static final String ANTHROPIC_BODY = """
			{"model":"claude-test","max_tokens":64,"messages":[{"role":"user","content":"Hi"}],"stream":true}""";

	/** The start of the first OpenAI chunk, as {@link #frames} shows it. */
	private static final String OPENAI_HEAD = """
			data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":0,"model":"gpt-test",""";

	private TestUpstream upstream;

	@BeforeEach
	void start() {
		this.upstream = TestUpstream.start();
	}

	@AfterEach
	void stop() {
		this.upstream.close();
	}

	@Test
	void openAiStreamsItsChunksWithUsageWhenRequested() throws Exception {
		this.upstream.enqueue(Script.tokens("Hel", "lo").usage(3, 2));
		HttpResponse<String> response = post(OPENAI, OPENAI_USAGE_BODY);
		assertThat(response.statusCode()).isEqualTo(200);
		assertThat(response.headers().firstValue("content-type")).hasValueSatisfying(
				(type) -> assertThat(type).startsWith("text/event-stream"));
		Matcher created = Pattern.compile("\"created\":(\\d+)").matcher(response.body());
		assertThat(created.find()).isTrue();
		assertThat(Long.parseLong(created.group(1))).isCloseTo(System.currentTimeMillis() / 1000, within(60L));
		assertThat(frames(response.body())).containsExactly(
				OPENAI_HEAD + """
						"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}""",
				OPENAI_HEAD + """
						"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}],"usage":null}""",
				OPENAI_HEAD + """
						"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}],"usage":null}""",
				OPENAI_HEAD + """
						"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}""",
				OPENAI_HEAD + """
						"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}""",
				"data: [DONE]");
		ReceivedRequest request = this.upstream.awaitRequest(WAIT);
		assertThat(request.method()).isEqualTo("POST");
		assertThat(request.path()).isEqualTo(OPENAI);
		assertThat(request.header("Content-Type")).isEqualTo("application/json");
		assertThat(request.body()).isEqualTo(OPENAI_USAGE_BODY);
		assertThat(request.json().path("model").asString()).isEqualTo("gpt-test");
		assertThat(request.connection().isOpen()).as("keep-alive").isTrue();
		assertThat(request.receivedNanos()).isGreaterThanOrEqualTo(request.connection().openedNanos());
		assertThat(request.connection().tag()).as("the last message's content").isEqualTo("Hi");
		assertThat(request.connection().taggedNanos()).isEqualTo(request.receivedNanos());
	}

	@Test
	void openAiSendsUsageOnlyWhenRequestedAndScripted() throws Exception {
		assertThat(frames(post(OPENAI, OPENAI_BODY).body())).containsExactly(
				OPENAI_HEAD + """
						"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}""",
				OPENAI_HEAD + """
						"choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}""",
				OPENAI_HEAD + """
						"choices":[{"index":0,"delta":{"content":" world"},"finish_reason":null}]}""",
				OPENAI_HEAD + """
						"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}""",
				"data: [DONE]");
		this.upstream.enqueue(Script.words(2).noUsage().finishReason("length"));
		List<String> frames = frames(post(OPENAI, OPENAI_USAGE_BODY).body());
		assertThat(frames).hasSize(5).noneMatch((frame) -> frame.contains("usage"));
		assertThat(frames.get(3)).contains("\"finish_reason\":\"length\"");
		this.upstream.enqueue(Script.words(3));
		assertThat(frames(post(OPENAI, OPENAI_USAGE_BODY).body()).get(5))
			.contains("\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10}");
	}

	@Test
	void anthropicStreamsItsEvents() throws Exception {
		this.upstream.enqueue(Script.tokens("Hel", "lo").finishReason("length").usage(3, 2));
		HttpResponse<String> response = post(ANTHROPIC, ANTHROPIC_BODY);
		assertThat(response.statusCode()).isEqualTo(200);
		assertThat(response.headers().firstValue("content-type")).hasValueSatisfying(
				(type) -> assertThat(type).startsWith("text/event-stream"));
		assertThat(frames(response.body())).containsExactly("""
				event: message_start
				data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",\
				"model":"claude-test","content":[],"stop_reason":null,"stop_sequence":null,\
				"usage":{"input_tokens":3,"output_tokens":1}}}""", """
				event: content_block_start
				data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}""", """
				event: ping
				data: {"type":"ping"}""", """
				event: content_block_delta
				data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}""", """
				event: content_block_delta
				data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo"}}""", """
				event: content_block_stop
				data: {"type":"content_block_stop","index":0}""", """
				event: message_delta
				data: {"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},\
				"usage":{"output_tokens":2}}""", """
				event: message_stop
				data: {"type":"message_stop"}""");
		List<String> frames = frames(post(ANTHROPIC, ANTHROPIC_BODY).body());
		assertThat(frames.get(0)).contains("\"id\":\"msg_2\"", "\"usage\":{\"input_tokens\":7,\"output_tokens\":1}");
		assertThat(frames.get(6)).contains("\"stop_reason\":\"end_turn\"", "\"usage\":{\"output_tokens\":2}");
		assertThat(this.upstream.requests()).extracting(ReceivedRequest::path).containsExactly(ANTHROPIC, ANTHROPIC);
	}

	@Test
	void scriptsAreUsedInOrderThenTheDefault() throws Exception {
		this.upstream.enqueue(Script.tokens("A"));
		this.upstream.enqueue(Script.tokens("B"));
		this.upstream.defaultScript(Script.tokens("D"));
		assertThat(Stream.of(1, 2, 3).map((i) -> frames(post(OPENAI, OPENAI_BODY).body()).get(1)))
			.satisfiesExactly((a) -> assertThat(a).contains("\"content\":\"A\""),
					(b) -> assertThat(b).contains("\"content\":\"B\""),
					(d) -> assertThat(d).contains("\"content\":\"D\""));
		this.upstream.reset();
		assertThat(this.upstream.requests()).isEmpty();
		assertThat(frames(post(OPENAI, OPENAI_BODY).body()).get(1)).contains("\"content\":\"Hello\"");
	}

	@Test
	void errorsAnswerWithTheProvidersBodyAndExtraHeaders() throws Exception {
		this.upstream.enqueue(Script.tokens().error(429, "rate_limit_error", "Slow down").header("Retry-After", "1"));
		HttpResponse<String> openAi = post(OPENAI, OPENAI_BODY);
		assertThat(openAi.statusCode()).isEqualTo(429);
		assertThat(openAi.headers().firstValue("content-type")).hasValue("application/json");
		assertThat(openAi.headers().firstValue("retry-after")).hasValue("1");
		assertThat(openAi.body()).isEqualTo("""
				{"error":{"message":"Slow down","type":"rate_limit_error","param":null,"code":null}}""");
		this.upstream.enqueue(Script.tokens().error(529, "overloaded_error", "Overloaded"));
		HttpResponse<String> anthropic = post(ANTHROPIC, ANTHROPIC_BODY);
		assertThat(anthropic.statusCode()).isEqualTo(529);
		assertThat(anthropic.body())
			.isEqualTo("{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}");
		this.upstream.enqueue(Script.tokens().status(500, "{\"oops\":true}"));
		HttpResponse<String> raw = post(OPENAI, OPENAI_BODY);
		assertThat(raw.statusCode()).isEqualTo(500);
		assertThat(raw.body()).isEqualTo("{\"oops\":true}");
		HttpResponse<String> unknown = post("/v1/embeddings", "{}");
		assertThat(unknown.statusCode()).isEqualTo(404);
		assertThat(unknown.body()).contains("\"type\":\"invalid_request_error\"");
		HttpResponse<String> notJson = post(ANTHROPIC, "{\"model\":");
		assertThat(notJson.statusCode()).isEqualTo(400);
		assertThat(notJson.body()).startsWith("{\"type\":\"error\"");
		assertThat(this.upstream.requests()).hasSize(5).last().satisfies((request) -> {
			assertThat(request.body()).isEqualTo("{\"model\":");
			assertThat(request.json()).isNull();
		});
	}

	@Test
	void tokensArePacedAsScripted() throws Exception {
		this.upstream.enqueue(Script.words(4).firstTokenDelay(Duration.ofMillis(200)).interval(Duration.ofMillis(100)));
		long sentAt = System.nanoTime();
		HttpResponse<Stream<String>> response = HTTP.sendAsync(request(OPENAI, OPENAI_BODY), BodyHandlers.ofLines())
			.get(2, TimeUnit.SECONDS);
		List<Long> tokensAt = new ArrayList<>();
		try (Stream<String> lines = response.body()) {
			lines.filter((line) -> line.contains("\"content\":\"w")).forEach((line) -> tokensAt.add(System.nanoTime()));
		}
		assertThat(tokensAt).hasSize(4);
		for (int i = 0; i < 4; i++) {
			// never early; late by scheduling only
			assertThat(millis(tokensAt.get(i) - sentAt)).as("token %d", i).isBetween(200L + 100 * i, 500L + 100 * i);
		}
		this.upstream.enqueue(Script.tokens("late").headersDelay(Duration.ofMillis(300)));
		sentAt = System.nanoTime();
		assertThat(post(OPENAI, OPENAI_BODY).statusCode()).isEqualTo(200);
		assertThat(millis(System.nanoTime() - sentAt)).isGreaterThanOrEqualTo(300L);
	}

	@ParameterizedTest(name = "abort={0}")
	@ValueSource(booleans = { false, true })
	void aClientClosingBetweenTwoTokensIsSeenAtOnce(boolean abort) throws Exception {
		this.upstream.enqueue(Script.words(10).interval(Duration.ofSeconds(1)));
		try (RawClient client = RawClient.post(this.upstream.port(), OPENAI, OPENAI_BODY)) {
			client.readUntil("\"w1 \"", WAIT);
			UpstreamConnection connection = this.upstream.awaitRequest(WAIT).connection();
			assertThat(this.upstream.openConnections()).containsExactly(connection);
			long closedAt = System.nanoTime();
			client.close(abort);
			assertThat(connection.awaitClosed(WAIT, closedAt)).isLessThan(Duration.ofMillis(100));
			assertThat(connection.isOpen()).isFalse();
			assertThat(connection.closedByClient()).isTrue();
			assertThat(connection.closedNanos()).isGreaterThan(connection.openedNanos());
		}
	}

	@Test
	void aClientClosingWhileWaitingForHeadersIsSeenAtOnce() throws Exception {
		this.upstream.enqueue(Script.tokens("never").headersDelay(Duration.ofDays(1)));
		try (RawClient client = RawClient.post(this.upstream.port(), ANTHROPIC, ANTHROPIC_BODY)) {
			UpstreamConnection connection = this.upstream.awaitRequest(WAIT).connection();
			client.assertSilentFor(Duration.ofMillis(100));
			long closedAt = System.nanoTime();
			client.close(false);
			assertThat(connection.awaitClosed(WAIT, closedAt)).isLessThan(Duration.ofMillis(100));
			assertThat(connection.closedByClient()).isTrue();
		}
	}

	@Test
	void resetAfterAbortsTheConnectionFromTheServerSide() throws Exception {
		this.upstream.enqueue(Script.words(5).resetAfter(2));
		try (RawClient client = RawClient.post(this.upstream.port(), OPENAI, OPENAI_BODY)) {
			assertThat(client.readUntilFailure(WAIT)).isInstanceOf(SocketException.class)
				.hasMessageContaining("reset");
			assertThat(client.received()).contains("\"w1 \"", "\"w2 \"").doesNotContain("w3").doesNotContain("[DONE]");
		}
		UpstreamConnection connection = this.upstream.awaitRequest(WAIT).connection();
		connection.awaitClosed(WAIT, 0);
		assertThat(connection.closedByClient()).isFalse();
	}

	@Test
	void closesByTheServerAreNotTheClients() throws Exception {
		try (RawClient client = RawClient.post(this.upstream.port(), OPENAI, OPENAI_BODY, "Connection: close")) {
			client.readUntil("data: [DONE]\n\n", WAIT);
			UpstreamConnection connection = this.upstream.awaitRequest(WAIT).connection();
			connection.awaitClosed(WAIT, 0);
			assertThat(connection.closedByClient()).isFalse();
		}
		try (TestUpstream other = TestUpstream.start();
				RawClient client = RawClient.post(other.port(), ANTHROPIC, ANTHROPIC_BODY)) {
			client.readUntil("event: message_stop", WAIT);
			other.close(); // the idle keep-alive connection
			UpstreamConnection connection = other.awaitRequest(WAIT).connection();
			assertThat(connection.isOpen()).isFalse();
			assertThat(connection.closedByClient()).isFalse();
		}
	}

	@Test
	void endWithoutFinishAfterEndsTheBodyCleanly() throws Exception {
		this.upstream.enqueue(Script.words(5).endWithoutFinishAfter(2));
		List<String> openAi = frames(post(OPENAI, OPENAI_USAGE_BODY).body());
		assertThat(openAi).hasSize(3)
			.noneMatch((frame) -> frame.contains("finish_reason\":\"") || frame.contains("[DONE]"));
		assertThat(openAi.get(2)).contains("\"content\":\"w2 \"");
		this.upstream.enqueue(Script.words(5).endWithoutFinishAfter(2));
		List<String> anthropic = frames(post(ANTHROPIC, ANTHROPIC_BODY).body());
		assertThat(anthropic).hasSize(5)
			.noneMatch((frame) -> frame.contains("message_delta") || frame.contains("message_stop"));
		assertThat(anthropic.get(4)).contains("\"text\":\"w2 \"");
		assertThat(this.upstream.openConnections()).as("keep-alive").hasSize(1);
	}

	@Test
	void hangAfterSendsNothingMoreAndKeepsTheConnectionOpen() throws Exception {
		this.upstream.enqueue(Script.words(5).hangAfter(1));
		try (RawClient client = RawClient.post(this.upstream.port(), OPENAI, OPENAI_BODY)) {
			client.readUntil("\"w1 \"", WAIT);
			client.assertSilentFor(Duration.ofMillis(300));
			assertThat(client.received()).doesNotContain("w2");
			assertThat(this.upstream.awaitRequest(WAIT).connection().isOpen()).isTrue();
		}
	}

	@Test
	void malformedJsonAfterSendsABrokenEventThenHangs() throws Exception {
		this.upstream.enqueue(Script.words(5).malformedJsonAfter(1));
		this.upstream.enqueue(Script.words(5).malformedJsonAfter(1));
		try (RawClient openAi = RawClient.post(this.upstream.port(), OPENAI, OPENAI_BODY);
				RawClient anthropic = RawClient.post(this.upstream.port(), ANTHROPIC, ANTHROPIC_BODY)) {
			openAi.readUntil("\"w1 \"", WAIT);
			openAi.readUntil("\r\ndata: {\"choices\":[{\"delta\":\n\n\r\n", WAIT);
			anthropic.readUntil("\"w1 \"", WAIT);
			anthropic.readUntil("\r\nevent: content_block_delta\n"
					+ "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":\n\n\r\n", WAIT);
			openAi.assertSilentFor(Duration.ofMillis(200));
			anthropic.assertSilentFor(Duration.ofMillis(1));
			assertThat(this.upstream.openConnections()).hasSize(2);
		}
	}

	@Test
	void oversizedLineAfterSendsOneMebibyteWithoutNewlineThenHangs() throws Exception {
		this.upstream.enqueue(Script.words(5).oversizedLineAfter(1));
		try (RawClient client = RawClient.post(this.upstream.port(), OPENAI, OPENAI_BODY)) {
			client.readUntil("\"w1 \"", WAIT);
			// one HTTP chunk of 0x100000 bytes: "data: xxx..." without a newline
			client.readUntil("\r\n100000\r\ndata: " + "x".repeat(1024 * 1024 - 6) + "\r\n", WAIT);
			client.assertSilentFor(Duration.ofMillis(200));
			assertThat(client.received()).doesNotContain("w2");
		}
	}

	@Test
	void errorEventAfterSendsTheProvidersErrorEventThenEnds() throws Exception {
		this.upstream.enqueue(Script.words(5).errorEventAfter(1, "server_error", "Boom"));
		assertThat(frames(post(OPENAI, OPENAI_BODY).body())).hasSize(3)
			.last()
			.isEqualTo("""
					data: {"error":{"message":"Boom","type":"server_error","param":null,"code":null}}""");
		this.upstream.enqueue(Script.words(5).errorEventAfter(1, "overloaded_error", "Overloaded"));
		assertThat(frames(post(ANTHROPIC, ANTHROPIC_BODY).body())).hasSize(5)
			.last()
			.isEqualTo("""
					event: error
					data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}""");
	}

	@Test
	void awaitNoOpenConnectionsWaitsForTheClientsToClose() throws Exception {
		this.upstream.defaultScript(Script.words(3).hangAfter(1));
		RawClient first = RawClient.post(this.upstream.port(), OPENAI, OPENAI_BODY);
		RawClient second = RawClient.post(this.upstream.port(), ANTHROPIC, ANTHROPIC_BODY);
		first.readUntil("\"w1 \"", WAIT);
		second.readUntil("\"w1 \"", WAIT);
		assertThatExceptionOfType(AssertionError.class)
			.isThrownBy(() -> this.upstream.awaitNoOpenConnections(Duration.ofMillis(50)))
			.withMessageContaining("2 upstream connection(s) still open")
			.withMessageContaining("UpstreamConnection#1")
			.withMessageContaining("UpstreamConnection#2");
		first.close(false);
		second.close(true);
		this.upstream.awaitNoOpenConnections(WAIT);
		assertThat(this.upstream.connections()).hasSize(2).allMatch(UpstreamConnection::closedByClient);
		this.upstream.reset();
		assertThat(this.upstream.connections()).isEmpty();
	}

	@Test
	void handlesAThousandConcurrentStreams() throws Exception {
		int streams = 1000;
		this.upstream.defaultScript(Script.words(3).interval(Duration.ofMillis(50)).hangAfter(2));
		List<RawClient> clients = new ArrayList<>();
		try {
			for (int i = 0; i < streams; i++) {
				clients.add(RawClient.post(this.upstream.port(), (i % 2 == 0) ? OPENAI : ANTHROPIC,
						(i % 2 == 0) ? OPENAI_BODY : ANTHROPIC_BODY));
			}
			for (RawClient client : clients) {
				client.readUntil("\"w2 \"", Duration.ofSeconds(5));
			}
			assertThat(this.upstream.openConnections()).hasSize(streams);
		}
		finally {
			for (RawClient client : clients) {
				client.close(false);
			}
		}
		this.upstream.awaitNoOpenConnections(Duration.ofSeconds(5));
		assertThat(this.upstream.connections()).hasSize(streams).allMatch(UpstreamConnection::closedByClient);
	}

	private HttpResponse<String> post(String path, String json) {
		try {
			return HTTP.sendAsync(request(path, json), BodyHandlers.ofString()).get(5, TimeUnit.SECONDS);
		}
		catch (Exception ex) {
			throw new AssertionError(ex);
		}
	}

	private HttpRequest request(String path, String json) {
		return HttpRequest.newBuilder(URI.create(this.upstream.baseUrl() + path.substring("/v1".length())))
			.header("Content-Type", "application/json")
			.POST(BodyPublishers.ofString(json))
			.build();
	}

	/** The Server-Sent Events frames of a body, with the {@code created} times set to 0. */
	private static List<String> frames(String body) {
		assertThat(body).endsWith("\n\n");
		return Arrays.stream(body.split("\n\n"))
			.map((frame) -> frame.replaceAll("\"created\":\\d+", "\"created\":0"))
			.toList();
	}

	private static long millis(long nanos) {
		return TimeUnit.NANOSECONDS.toMillis(nanos);
	}

	/** An HTTP/1.1 client on a bare socket, which sees the raw (chunked) bytes as they come. */
	private static final class RawClient implements AutoCloseable {

		private final Socket socket;

		private final InputStream in;

		private final StringBuilder received = new StringBuilder();

		private final byte[] buffer = new byte[64 * 1024];

		private RawClient(Socket socket) throws IOException {
			this.socket = socket;
			this.in = socket.getInputStream();
		}

		static RawClient post(int port, String path, String json, String... headers) throws IOException {
			Socket socket = new Socket();
			socket.connect(new InetSocketAddress("127.0.0.1", port), 2000);
			byte[] body = json.getBytes(StandardCharsets.UTF_8);
			OutputStream out = socket.getOutputStream();
			StringBuilder head = new StringBuilder("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\n");
			head.append("Content-Type: application/json\r\nAccept: text/event-stream\r\n");
			head.append("Content-Length: ").append(body.length).append("\r\n");
			Arrays.stream(headers).forEach((header) -> head.append(header).append("\r\n"));
			out.write(head.append("\r\n").toString().getBytes(StandardCharsets.US_ASCII));
			out.write(body);
			out.flush();
			return new RawClient(socket);
		}

		/** Reads until the bytes received so far contain the marker. */
		void readUntil(String marker, Duration timeout) throws IOException {
			long deadline = System.nanoTime() + timeout.toNanos();
			while (this.received.indexOf(marker) < 0) {
				if (!readSome(deadline)) {
					fail("No " + shorten(marker) + " within " + timeout + "; received: "
							+ shorten(this.received.toString()));
				}
			}
		}

		/** Reads until the connection fails, which must happen within the timeout. */
		IOException readUntilFailure(Duration timeout) {
			long deadline = System.nanoTime() + timeout.toNanos();
			try {
				while (readSome(deadline)) {
					// keep reading
				}
				return fail("No failure within " + timeout + "; received: " + shorten(this.received.toString()));
			}
			catch (IOException ex) {
				return ex;
			}
		}

		void assertSilentFor(Duration duration) throws IOException {
			this.socket.setSoTimeout((int) Math.max(1, duration.toMillis()));
			try {
				int n = this.in.read(this.buffer);
				fail("Expected silence but got " + ((n < 0) ? "the end of the stream"
						: shorten(new String(this.buffer, 0, n, StandardCharsets.ISO_8859_1))));
			}
			catch (SocketTimeoutException expected) {
				// silence
			}
		}

		String received() {
			return this.received.toString();
		}

		/** Closes the socket, with a reset rather than a FIN if {@code abort}. */
		void close(boolean abort) throws IOException {
			if (abort && !this.socket.isClosed()) {
				this.socket.setSoLinger(true, 0);
			}
			this.socket.close();
		}

		@Override
		public void close() throws IOException {
			close(false);
		}

		/** Reads what comes before the deadline; false if nothing did, fails at the end of the stream. */
		private boolean readSome(long deadline) throws IOException {
			long left = deadline - System.nanoTime();
			if (left <= 0) {
				return false;
			}
			this.socket.setSoTimeout((int) Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
			try {
				int n = this.in.read(this.buffer);
				if (n < 0) {
					fail("End of stream; received: " + shorten(this.received.toString()));
				}
				this.received.append(new String(this.buffer, 0, n, StandardCharsets.ISO_8859_1));
				return true;
			}
			catch (SocketTimeoutException ex) {
				return false;
			}
		}

		private static String shorten(String text) {
			return (text.length() <= 600) ? text
					: text.substring(0, 300) + "[...]" + text.substring(text.length() - 300);
		}

	}

}
