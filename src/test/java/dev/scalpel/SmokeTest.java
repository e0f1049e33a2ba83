package dev.scalpel;

import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.Test;

import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.core.ParameterizedTypeReference;
import org.springframework.http.MediaType;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.test.web.reactive.server.WebTestClient;

import dev.scalpel.support.ScalpelTest;

import static org.assertj.core.api.Assertions.assertThat;

@ScalpelTest
class SmokeTest {

	@Autowired
	WebTestClient http;

	@Test
	void simulatedStreamCompletes() {
		List<ServerSentEvent<String>> events = this.http.post()
			.uri("/v1/streams")
			.accept(MediaType.TEXT_EVENT_STREAM)
			.contentType(MediaType.APPLICATION_JSON)
			.bodyValue("{\"prompt\":\"hello\"}")
			.exchange()
			.expectStatus()
			.isOk()
			.returnResult(new ParameterizedTypeReference<ServerSentEvent<String>>() {
			})
			.getResponseBody()
			.filter(event -> event.event() != null)
			.collectList()
			.block(Duration.ofSeconds(10));
		assertThat(events).first().extracting(ServerSentEvent::event).isEqualTo("stream.created");
		assertThat(events).last().extracting(ServerSentEvent::event).isEqualTo("stream.completed");
	}

}
