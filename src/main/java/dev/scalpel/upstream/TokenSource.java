package dev.scalpel.upstream;

import java.util.Set;

import org.jspecify.annotations.Nullable;
import reactor.core.publisher.Flux;

/**
 * A model provider. {@link #generate} streams the reply as {@link Chunk}s and ends with exactly
 * one {@link Chunk.Finished}, or with an error for a failed call ({@link UpstreamFailure} for what
 * the provider did wrong).
 *
 * <p>The promise every implementation keeps: cancelling the returned {@code Flux} ends the upstream
 * call at once (for a remote provider, closes its connection), and nothing of the call outlives
 * the cancellation.
 */
public interface TokenSource {

	/** The source's name: an endpoint's configured name, which {@code <name>/<model>} routes to. */
	String name();

	/** The model names this source serves, as clients name them. */
	Set<String> models();

	/** Whether {@code <name>/<any model>} may be routed here (true for real providers). */
	default boolean routesAnyModel() {
		return false;
	}

	/**
	 * Whether the source takes OpenAI's tool calling as it is: {@code tools}, {@code tool_choice},
	 * the messages of a tool conversation (option {@code messages}), and {@code tool_calls} deltas
	 * back. True for OpenAI-compatible endpoints only.
	 */
	default boolean takesTools() {
		return false;
	}

	/**
	 * Refuses a start at once, with {@link UpstreamUnavailable}, while the source takes no calls (its
	 * circuit breaker is open).
	 */
	default void admit() {
	}

	/** Streams the generation. Cold: nothing happens until subscription. */
	Flux<Chunk> generate(GenerationRequest request);

	/**
	 * The prompt's tokens, when this source knows them before the generation ends (the simulated
	 * model counts them itself), so that a stream in progress shows them; null when only the
	 * provider's report in {@link Chunk.Finished} gives them.
	 */
	default @Nullable Integer promptTokens(GenerationRequest request) {
		return null;
	}

	/**
	 * Wraps a call to {@link #generate}, with its time limits applied, in whatever judges the source's
	 * health (a circuit breaker): errors and timeouts count as failures, a cancellation never does.
	 */
	default Flux<Chunk> guard(Flux<Chunk> call) {
		return call;
	}

}
