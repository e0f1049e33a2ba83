package dev.scalpel.support;

import java.time.Duration;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;

import reactor.core.publisher.Flux;

import dev.scalpel.upstream.Chunk;
import dev.scalpel.upstream.GenerationRequest;
import dev.scalpel.upstream.TokenSource;
import dev.scalpel.upstream.Usage;

/**
 * A provider whose behaviour is drawn at random from the prompt: a few tokens at a random pace, then
 * a normal end, a failure, an end without finishing, or silence (left to the timeouts). Counts its
 * open calls so a test can prove every one was closed.
 */
public final class FakeChaosTokenSource implements TokenSource {

	public static final String MODEL = "chaos";

	private final AtomicInteger open = new AtomicInteger();

	@Override
	public String name() {
		return "test";
	}

	@Override
	public Set<String> models() {
		return Set.of(MODEL);
	}

	@Override
	public Flux<Chunk> generate(GenerationRequest request) {
		SplittableRandom random = new SplittableRandom(request.messages().get(0).content().hashCode());
		int tokens = random.nextInt(12);
		Duration pace = Duration.ofMillis(random.nextInt(3));
		int ending = random.nextInt(10);
		Flux<Chunk> body = Flux.range(0, tokens).map(i -> (Chunk) new Chunk.Token("t" + i));
		if (!pace.isZero()) {
			body = body.delayElements(pace);
		}
		Flux<Chunk> end;
		if (ending < 6) {
			end = Flux.just(new Chunk.Finished("stop", new Usage(1, tokens)));
		}
		else if (ending < 8) {
			end = Flux.error(new IllegalStateException("injected upstream failure"));
		}
		else if (ending < 9) {
			end = Flux.empty();
		}
		else {
			end = Flux.never();
		}
		return body.concatWith(end)
			.doOnSubscribe(subscription -> this.open.incrementAndGet())
			.doFinally(signal -> this.open.decrementAndGet());
	}

	public int open() {
		return this.open.get();
	}

}
