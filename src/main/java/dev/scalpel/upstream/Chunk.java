package dev.scalpel.upstream;

/** One signal of an upstream generation: a piece of text, or the end with its reason. */
public sealed interface Chunk {

	/** A piece of generated text, in order. */
	record Token(String text) implements Chunk {
	}

	/**
	 * The generation ended normally.
	 * @param reason {@code stop} or {@code length}
	 * @param usage token counts, as the provider reported them or as counted
	 */
	record Finished(String reason, Usage usage) implements Chunk {
	}

}
