package dev.scalpel.support;

import java.time.Duration;

import org.jspecify.annotations.Nullable;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.http.MediaType;
import org.springframework.web.reactive.function.client.WebClient;

/** Plain request/response calls over a real socket, blocking the test thread (never a Reactor one). */
public final class Http {

	public static final Duration WAIT = Duration.ofSeconds(10);

	private static final JsonMapper JSON = JsonMapper.builder().build();

	private Http() {
	}

	/** A whole response: status, headers and body as text. */
	public record Response(int status, HttpHeaders headers, String body) {

		public JsonNode json() {
			return JSON.readTree(this.body);
		}

		public String contentType() {
			MediaType type = this.headers.getContentType();
			return (type != null) ? type.toString() : "";
		}

	}

	public static WebClient client(int port) {
		return WebClient.builder()
			.baseUrl("http://localhost:" + port)
			.codecs(codecs -> codecs.defaultCodecs().maxInMemorySize(4 * 1024 * 1024))
			.build();
	}

	public static Response get(WebClient client, String path) {
		return exchange(client, HttpMethod.GET, path, null, null);
	}

	public static Response delete(WebClient client, String path) {
		return exchange(client, HttpMethod.DELETE, path, null, null);
	}

	public static Response post(WebClient client, String path, MediaType contentType, String body) {
		return exchange(client, HttpMethod.POST, path, contentType, body);
	}

	/** A start that asks for the event stream, for answers that are not one ({@code 429}, {@code 4xx}). */
	public static Response refusedStart(WebClient client, String body) {
		Response response = client.post()
			.uri("/v1/streams")
			.contentType(MediaType.APPLICATION_JSON)
			.accept(MediaType.TEXT_EVENT_STREAM)
			.bodyValue(body)
			.exchangeToMono(answer -> answer.bodyToMono(String.class)
				.defaultIfEmpty("")
				.map(text -> new Response(answer.statusCode().value(), answer.headers().asHttpHeaders(), text)))
			.block(WAIT);
		if (response == null) {
			throw new AssertionError("no response to the start");
		}
		return response;
	}

	public static Response exchange(WebClient client, HttpMethod method, String path, @Nullable MediaType contentType,
			@Nullable String body) {
		WebClient.RequestBodySpec request = client.method(method).uri(path);
		WebClient.RequestHeadersSpec<?> ready = request;
		if (contentType != null && body != null) {
			ready = request.contentType(contentType).bodyValue(body);
		}
		Response response = ready
			.exchangeToMono(answer -> answer.bodyToMono(String.class)
				.defaultIfEmpty("")
				.map(text -> new Response(answer.statusCode().value(), answer.headers().asHttpHeaders(), text)))
			.block(WAIT);
		if (response == null) {
			throw new AssertionError("no response to " + method + " " + path);
		}
		return response;
	}

}
