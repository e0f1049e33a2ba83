package dev.scalpel.upstream;

import java.util.Set;

import reactor.core.publisher.Flux;

/**
 * A model provider. {@link #generate} streams the reply as {@link Chunk}s and ends with exactly
 * one {@link Chunk.Finished}, or with an error for a failed call.
 *
 * <p>The promise every implementation keeps: cancelling the returned {@code Flux} ends the upstream
 * call at once (for a remote provider, closes its connection), and nothing of the call outlives
 * the cancellation.
 */
public interface TokenSource {

	/** The model names this source serves, as clients name them. */
	Set<String> models();

	/** Streams the generation. Cold: nothing happens until subscription. */
	Flux<Chunk> generate(GenerationRequest request);

}
