package dev.scalpel.security;

import java.time.Duration;

import org.junit.jupiter.api.Test;
import reactor.core.publisher.Mono;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.http.MediaType;
import org.springframework.web.reactive.function.client.WebClient;

import dev.scalpel.support.ScalpelTest;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What every answer of the API carries (security headers, on success, error and event stream alike),
 * and CORS: an allowed origin's preflight and calls get the CORS headers, another origin gets a
 * {@code 403} problem, and a preflight needs no key.
 */
@ScalpelTest(properties = { "scalpel.security.keys[0].name=alice",
		"scalpel.security.keys[0].sha256=099295a3784e1bd368dc348843a7398c1931b6b8ec2504c73e91ed2040bdc46c",
		"scalpel.security.cors.allowed-origins=https://app.example.com" })
class SecurityHeadersAndCorsEndToEndTest {

	private static final Duration WAIT = Duration.ofSeconds(10);

	@Value("${local.server.port}")
	int port;

	record Reply(int status, HttpHeaders headers, String body) {
	}

	private Reply call(HttpMethod method, String path, HttpHeaders headers, String body) {
		WebClient.RequestBodySpec request = WebClient.create("http://localhost:" + this.port)
			.method(method)
			.uri(path)
			.headers(all -> all.addAll(headers));
		return ((body != null) ? request.contentType(MediaType.APPLICATION_JSON).bodyValue(body) : request)
			.exchangeToMono(response -> response.bodyToMono(String.class)
				.defaultIfEmpty("")
				.map(text -> new Reply(response.statusCode().value(), response.headers().asHttpHeaders(), text)))
			.switchIfEmpty(Mono.error(new AssertionError("no response")))
			.block(WAIT);
	}

	private static HttpHeaders alice() {
		HttpHeaders headers = new HttpHeaders();
		headers.setBearerAuth("sk-alice");
		return headers;
	}

	@Test
	void everyAnswerCarriesTheSecurityHeaders() {
		HttpHeaders sse = alice();
		sse.setAccept(java.util.List.of(MediaType.TEXT_EVENT_STREAM));
		for (Reply reply : new Reply[] { call(HttpMethod.GET, "/v1/streams", alice(), null),
				call(HttpMethod.GET, "/v1/streams", new HttpHeaders(), null),
				call(HttpMethod.GET, "/v1/streams/str_0123456789abcdef0123456789abcdef", alice(), null),
				call(HttpMethod.POST, "/v1/streams", alice(), "{\"prompt\":\"Hi\",\"max_tokens\":2}"),
				call(HttpMethod.POST, "/v1/streams", sse, "{\"prompt\":\"Hi\",\"max_tokens\":2}"),
				call(HttpMethod.POST, "/v1/streams", alice(), "{\"prompt\":") }) {
			HttpHeaders headers = reply.headers();
			assertThat(headers.getFirst("X-Content-Type-Options")).as(reply.toString()).isEqualTo("nosniff");
			assertThat(headers.getFirst("X-Frame-Options")).isEqualTo("DENY");
			assertThat(headers.getFirst("Content-Security-Policy")).isEqualTo("default-src 'none'; frame-ancestors 'none'");
			assertThat(headers.getFirst("Referrer-Policy")).isEqualTo("no-referrer");
			assertThat(headers.getFirst(HttpHeaders.CACHE_CONTROL)).contains("no-");
			// Nothing about what runs underneath.
			assertThat(headers.containsHeader(HttpHeaders.SERVER)).isFalse();
			assertThat(reply.body()).doesNotContain("Exception").doesNotContain("dev.scalpel").doesNotContain("java.");
		}
		// An event stream keeps its own Cache-Control.
		Reply events = call(HttpMethod.POST, "/v1/streams", sse, "{\"prompt\":\"Hi\",\"max_tokens\":2}");
		assertThat(events.headers().getFirst(HttpHeaders.CACHE_CONTROL)).isEqualTo("no-cache");
	}

	@Test
	void anAllowedOriginsPreflightNeedsNoKeyAndGetsTheCorsHeaders() {
		HttpHeaders preflight = new HttpHeaders();
		preflight.setOrigin("https://app.example.com");
		preflight.setAccessControlRequestMethod(HttpMethod.POST);
		preflight.setAccessControlRequestHeaders(java.util.List.of("authorization", "content-type"));
		Reply reply = call(HttpMethod.OPTIONS, "/v1/streams", preflight, null);
		assertThat(reply.status()).isEqualTo(200);
		assertThat(reply.headers().getAccessControlAllowOrigin()).isEqualTo("https://app.example.com");
		assertThat(reply.headers().getAccessControlAllowMethods()).contains(HttpMethod.POST);
		assertThat(reply.headers().getAccessControlAllowCredentials()).isFalse();

		HttpHeaders call = alice();
		call.setOrigin("https://app.example.com");
		Reply started = call(HttpMethod.POST, "/v1/streams", call, "{\"prompt\":\"Hi\",\"max_tokens\":2}");
		assertThat(started.status()).isEqualTo(202);
		assertThat(started.headers().getAccessControlAllowOrigin()).isEqualTo("https://app.example.com");
		assertThat(started.headers().getAccessControlExposeHeaders()).contains("X-Stream-Id", "X-Attach-Token");
	}

	/**
	 * Found by the hostile-input property test: Spring's same-origin check throws for a request without a
	 * host (a 500). Each is a client error now.
	 */
	@Test
	void aRequestWithAnOriginAndNoHostIsAClientError() throws java.io.IOException {
		for (String head : new String[] { "GET /v1/streams HTTP/1.1\r\nHost: \r\nOrigin: https://evil.example\r\n",
				"OPTIONS * HTTP/1.1\r\nHost: localhost\r\nOrigin: https://app.example.com\r\n",
				"GET v1/streams HTTP/1.1\r\nHost: localhost\r\nOrigin: https://app.example.com\r\nAuthorization: Bearer sk-alice\r\n" }) {
			try (java.net.Socket socket = new java.net.Socket("localhost", this.port)) {
				socket.setSoTimeout(10_000);
				socket.getOutputStream().write((head + "Connection: close\r\n\r\n").getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
				String answer = new String(socket.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.ISO_8859_1);
				assertThat(answer).as(head).matches("(?s)HTTP/1.1 4\\d\\d .*").contains("application/problem+json");
			}
		}
	}

	@Test
	void anotherOriginIsRefusedWithAProblem() {
		HttpHeaders preflight = new HttpHeaders();
		preflight.setOrigin("https://evil.example.net");
		preflight.setAccessControlRequestMethod(HttpMethod.POST);
		Reply refused = call(HttpMethod.OPTIONS, "/v1/streams", preflight, null);
		assertThat(refused.status()).isEqualTo(403);
		assertThat(refused.headers().getContentType()).isEqualTo(MediaType.APPLICATION_PROBLEM_JSON);
		assertThat(JsonMapper.shared().readTree(refused.body()).get("type").asString())
			.isEqualTo("https://scalpel.dev/problems/forbidden");

		HttpHeaders call = alice();
		call.setOrigin("https://evil.example.net");
		Reply start = call(HttpMethod.POST, "/v1/streams", call, "{\"prompt\":\"Hi\",\"max_tokens\":2}");
		assertThat(start.status()).isEqualTo(403);
		assertThat(start.headers().containsHeader("X-Stream-Id")).as("nothing started").isFalse();
	}

}
