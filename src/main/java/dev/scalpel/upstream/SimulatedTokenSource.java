package dev.scalpel.upstream;

import java.time.Duration;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import reactor.core.publisher.Flux;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * The built-in {@code simulated} model: a deterministic reply whose words depend on the prompt,
 * paced like a real model. It goes through the same port as real providers, and it counts its
 * running and cancelled generations so that tests can observe that cancellation reached it.
 */
public final class SimulatedTokenSource implements TokenSource {

	public static final String MODEL = "simulated";

	private static final String[] WORDS = { "the", "stream", "token", "slot", "model", "reply", "quick",
			"cancel", "listener", "event", "graceful", "upstream", "capacity", "scalpel", "careful", "bright",
			"river", "signal", "window", "answer", "simple", "steady", "thread", "light", "clear", "order",
			"measure", "promise", "release", "moment" };

	private final ProviderProperties.Simulated properties;

	private final Scheduler scheduler;

	private final AtomicInteger active = new AtomicInteger();

	private final AtomicLong started = new AtomicLong();

	private final AtomicLong cancelled = new AtomicLong();

	public SimulatedTokenSource(ProviderProperties.Simulated properties) {
		this(properties, Schedulers.parallel());
	}

	public SimulatedTokenSource(ProviderProperties.Simulated properties, Scheduler scheduler) {
		this.properties = properties;
		this.scheduler = scheduler;
	}

	@Override
	public String name() {
		return MODEL;
	}

	@Override
	public Set<String> models() {
		return Set.of(MODEL);
	}

	@Override
	public Flux<Chunk> generate(GenerationRequest request) {
		int limit = (request.maxTokens() != null) ? request.maxTokens() : Integer.MAX_VALUE;
		int count = Math.min(this.properties.replyTokens(), limit);
		String reason = (count < this.properties.replyTokens()) ? "length" : "stop";
		Usage usage = new Usage(inputTokens(request), count);
		Duration period = Duration.ofNanos(1_000_000_000L / this.properties.tokensPerSecond());
		return Flux.defer(() -> {
			SplittableRandom words = new SplittableRandom(seed(request));
			Flux<Chunk> tokens = Flux.interval(this.properties.firstTokenDelay(), period, this.scheduler)
				.take(count)
				.map(index -> new Chunk.Token(word(words, index)));
			return tokens.concatWith(Flux.just(new Chunk.Finished(reason, usage)));
		})
			.doOnSubscribe(subscription -> {
				this.started.incrementAndGet();
				this.active.incrementAndGet();
			})
			.doOnCancel(this.cancelled::incrementAndGet)
			.doFinally(signal -> this.active.decrementAndGet());
	}

	/** Generations running right now. */
	public int active() {
		return this.active.get();
	}

	/** Generations ever started. */
	public long started() {
		return this.started.get();
	}

	/** Generations ended by cancellation (the upstream call was closed early). */
	public long cancelled() {
		return this.cancelled.get();
	}

	private static String word(SplittableRandom random, long index) {
		String word = WORDS[random.nextInt(WORDS.length)];
		if (index == 0) {
			return Character.toUpperCase(word.charAt(0)) + word.substring(1);
		}
		return ((index % 12 == 11) ? ". " : " ") + word;
	}

	private static long seed(GenerationRequest request) {
		// FNV-1a over the conversation: stable across JVMs, unlike String.hashCode of a concatenation.
		long hash = 0xcbf29ce484222325L;
		for (Message message : request.messages()) {
			for (int i = 0; i < message.content().length(); i++) {
				hash ^= message.content().charAt(i);
				hash *= 0x100000001b3L;
			}
			hash ^= '\n';
			hash *= 0x100000001b3L;
		}
		return hash;
	}

	@Override
	public Integer promptTokens(GenerationRequest request) {
		return inputTokens(request);
	}

	private static int inputTokens(GenerationRequest request) {
		int tokens = 0;
		for (Message message : request.messages()) {
			tokens += message.content().isBlank() ? 0 : message.content().trim().split("\\s+").length;
		}
		return tokens;
	}

}
