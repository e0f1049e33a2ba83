package dev.scalpel.system;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;
import reactor.core.publisher.Mono;
import reactor.test.StepVerifier;

import org.springframework.mock.http.server.reactive.MockServerHttpRequest;
import org.springframework.mock.web.server.MockServerWebExchange;
import org.springframework.web.server.WebFilter;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A listener registered by a handler leaves when its exchange ends, however it ends: written, failed,
 * or cancelled because its client went away before the answer was written.
 */
class UnreadListenersTest {

	private final WebFilter filter = UnreadListeners.filter();

	@Test
	void theListenerIsAbandonedWhenTheExchangeCompletesFailsOrIsCancelled() {
		for (String ending : new String[] { "complete", "error", "cancel" }) {
			MockServerWebExchange exchange = MockServerWebExchange.from(MockServerHttpRequest.get("/v1/streams/x/events"));
			AtomicInteger abandoned = new AtomicInteger();
			Mono<Void> handled = this.filter.filter(exchange, served -> {
				UnreadListeners.register(served, abandoned::incrementAndGet);
				return switch (ending) {
					case "complete" -> Mono.empty();
					case "error" -> Mono.error(new IllegalStateException("the answer could not be written"));
					default -> Mono.never();
				};
			});
			if (ending.equals("cancel")) {
				StepVerifier.create(handled).thenAwait(Duration.ofMillis(10)).thenCancel().verify(Duration.ofSeconds(5));
			}
			else if (ending.equals("error")) {
				StepVerifier.create(handled).expectError(IllegalStateException.class).verify(Duration.ofSeconds(5));
			}
			else {
				StepVerifier.create(handled).expectComplete().verify(Duration.ofSeconds(5));
			}
			assertThat(abandoned.get()).as(ending).isEqualTo(1);
			assertThat(exchange.getAttributes()).as("nothing left on the exchange").doesNotContainKey(UnreadListeners.class.getName());
		}
	}

	@Test
	void anExchangeWithoutAListenerIsLeftAlone() {
		MockServerWebExchange exchange = MockServerWebExchange.from(MockServerHttpRequest.get("/v1/streams"));
		StepVerifier.create(this.filter.filter(exchange, served -> Mono.empty())).verifyComplete();
	}

}
