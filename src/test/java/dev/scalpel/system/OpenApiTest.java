package dev.scalpel.system;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.EntityExchangeResult;
import org.springframework.test.web.reactive.server.WebTestClient;

import dev.scalpel.support.ScalpelTest;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Proves that the service documents itself: {@code /v3/api-docs} is an OpenAPI JSON document that
 * describes every endpoint of the native API with its HTTP method, and the Swagger UI at
 * {@code /swagger-ui.html} (directly or through its redirect) serves its page.
 */
@ScalpelTest
class OpenApiTest {

	// The first request builds the document by scanning the application: seconds on a small, busy machine.
	static final Duration TIMEOUT = Duration.ofSeconds(30);

	@Autowired
	WebTestClient http;

	@Autowired
	JsonMapper json;

	@BeforeEach
	void boundWaits() {
		this.http = this.http.mutate().responseTimeout(TIMEOUT).build();
	}

	@Test
	void apiDocsDescribeTheStreamEndpoints() {
		EntityExchangeResult<byte[]> result = this.http.get()
			.uri("/v3/api-docs")
			.exchange()
			.expectStatus()
			.isOk()
			.expectBody(byte[].class)
			.returnResult();
		assertThat(result.getResponseHeaders().getContentType()).isNotNull()
			.matches(type -> type.isCompatibleWith(MediaType.APPLICATION_JSON), "JSON");
		JsonNode docs = this.json.readTree(result.getResponseBody());
		assertThat(docs.path("openapi").asString("")).startsWith("3.");
		JsonNode paths = docs.path("paths");
		assertThat(paths.propertyNames()).contains("/v1/streams", "/v1/streams/{id}", "/v1/streams/{id}/events",
				"/v1/streams/{id}/cancel");
		assertThat(paths.path("/v1/streams").propertyNames()).contains("post", "get");
		assertThat(paths.path("/v1/streams/{id}").propertyNames()).contains("get");
		assertThat(paths.path("/v1/streams/{id}/events").propertyNames()).contains("get");
		assertThat(paths.path("/v1/streams/{id}/cancel").propertyNames()).contains("post");
		assertThat(paths.path("/v1/streams/{id}/attach_token").propertyNames()).contains("post");
		// The caller comes from the API key, never from a parameter.
		assertThat(result.getResponseBody()).asString(StandardCharsets.UTF_8).doesNotContain("\"caller\"");
		assertThat(docs.path("components").path("securitySchemes").path("apiKey").path("scheme").asString())
			.isEqualTo("bearer");
		assertThat(docs.path("security").toString()).contains("apiKey");
	}

	@Test
	void theDocumentEchoesNothingOfTheRequest() {
		EntityExchangeResult<byte[]> result = this.http.get()
			.uri("/v3/api-docs?after=str_echo_marker&x=<script>")
			.exchange()
			.expectStatus()
			.isOk()
			.expectBody(byte[].class)
			.returnResult();
		assertThat(result.getResponseBody()).asString(StandardCharsets.UTF_8)
			.doesNotContain("str_echo_marker")
			.doesNotContain("<script>");
		assertThat(this.json.readTree(result.getResponseBody()).path("servers").path(0).path("url").asString())
			.isEqualTo("/");
	}

	@Test
	void swaggerUiAnswers() {
		EntityExchangeResult<byte[]> first = this.http.get()
			.uri("/swagger-ui.html")
			.exchange()
			.expectBody(byte[].class)
			.returnResult();
		EntityExchangeResult<byte[]> page = first;
		if (first.getStatus().is3xxRedirection()) {
			URI location = first.getResponseHeaders().getLocation();
			assertThat(location).as("redirect Location").isNotNull();
			page = this.http.get()
				.uri(first.getUrl().resolve(location))
				.exchange()
				.expectBody(byte[].class)
				.returnResult();
		}
		assertThat(page.getStatus().value()).as("Swagger UI status").isEqualTo(200);
		assertThat(page.getResponseHeaders().getContentType()).isNotNull()
			.matches(type -> type.isCompatibleWith(MediaType.TEXT_HTML), "HTML");
		assertThat(new String(page.getResponseBody(), StandardCharsets.UTF_8)).containsIgnoringCase("swagger");
	}

}
