package dev.scalpel.upstream;

import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.Test;
import reactor.test.StepVerifier;
import reactor.test.scheduler.VirtualTimeScheduler;

import static org.assertj.core.api.Assertions.assertThat;

/** The built-in model: deterministic per prompt, paced by its settings, observable when cancelled. */
class SimulatedTokenSourceTest {

	private static final ProviderProperties.Simulated PACE = new ProviderProperties.Simulated(5, 10,
			Duration.ofMillis(200));

	@Test
	void replyDependsOnThePromptAndOnlyOnThePrompt() {
		SimulatedTokenSource source = new SimulatedTokenSource(new ProviderProperties.Simulated(8, 1000, Duration.ZERO));
		List<Chunk> first = source.generate(request("Tell me about rivers", null)).collectList().block(Duration.ofSeconds(5));
		List<Chunk> again = source.generate(request("Tell me about rivers", null)).collectList().block(Duration.ofSeconds(5));
		List<Chunk> other = source.generate(request("Something else", null)).collectList().block(Duration.ofSeconds(5));
		assertThat(again).isEqualTo(first);
		assertThat(other).isNotEqualTo(first);
		assertThat(first).hasSize(9);
		assertThat(first.get(8)).isEqualTo(new Chunk.Finished("stop", new Usage(4, 8)));
	}

	@Test
	void maxTokensBelowTheReplyLengthEndsWithLength() {
		SimulatedTokenSource source = new SimulatedTokenSource(new ProviderProperties.Simulated(8, 1000, Duration.ZERO));
		List<Chunk> chunks = source.generate(request("hi", 3)).collectList().block(Duration.ofSeconds(5));
		assertThat(chunks).hasSize(4);
		assertThat(chunks.get(3)).isEqualTo(new Chunk.Finished("length", new Usage(1, 3)));
	}

	@Test
	void tokensArriveAtTheConfiguredPace() {
		VirtualTimeScheduler time = VirtualTimeScheduler.create();
		SimulatedTokenSource source = new SimulatedTokenSource(PACE, time);
		StepVerifier.withVirtualTime(() -> source.generate(request("hi", null)), () -> time, Long.MAX_VALUE)
			.expectSubscription()
			.expectNoEvent(Duration.ofMillis(199))
			.thenAwait(Duration.ofMillis(1))
			.expectNextMatches(Chunk.Token.class::isInstance)
			.expectNoEvent(Duration.ofMillis(99))
			.thenAwait(Duration.ofMillis(1))
			.expectNextMatches(Chunk.Token.class::isInstance)
			.thenAwait(Duration.ofMillis(300))
			.expectNextCount(3)
			.expectNext(new Chunk.Finished("stop", new Usage(1, 5)))
			.expectComplete()
			.verify(Duration.ofSeconds(5));
	}

	@Test
	void cancellationStopsTheGenerationAndIsCounted() {
		VirtualTimeScheduler time = VirtualTimeScheduler.create();
		SimulatedTokenSource source = new SimulatedTokenSource(PACE, time);
		StepVerifier.withVirtualTime(() -> source.generate(request("hi", null)), () -> time, Long.MAX_VALUE)
			.expectSubscription()
			.then(() -> assertThat(source.active()).isEqualTo(1))
			.thenAwait(Duration.ofMillis(200))
			.expectNextCount(1)
			.thenCancel()
			.verify(Duration.ofSeconds(5));
		assertThat(source.active()).isZero();
		assertThat(source.cancelled()).isEqualTo(1);
		assertThat(source.started()).isEqualTo(1);
	}

	private static GenerationRequest request(String prompt, Integer maxTokens) {
		return new GenerationRequest("simulated", List.of(new Message("user", prompt)), maxTokens, null);
	}

}
