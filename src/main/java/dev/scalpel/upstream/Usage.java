package dev.scalpel.upstream;

/** Tokens read and written by one generation. */
public record Usage(int inputTokens, int outputTokens) {

	public static final Usage NONE = new Usage(0, 0);

}
