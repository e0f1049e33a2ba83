package dev.scalpel.upstream;

/** One signal of an upstream generation: a piece of text, tool calls, or the end with its reason. */
public sealed interface Chunk {

	/** A piece of generated text, in order. */
	record Token(String text) implements Chunk {
	}

	/**
	 * A piece of the tool calls the model is making (OpenAI-compatible providers), passed on as the
	 * provider sent it.
	 * @param json the delta's {@code tool_calls}: a JSON array of pieces, each with its {@code index}
	 * and the parts of {@code id}, {@code type}, {@code function.name} and {@code function.arguments}
	 * that arrived
	 * @param text text that came in the same delta, or empty
	 */
	record ToolCalls(String json, String text) implements Chunk {
	}

	/**
	 * The generation ended normally.
	 * @param reason {@code stop}, {@code length}, {@code tool_calls} or {@code content_filter}
	 * @param usage token counts, as the provider reported them or as counted
	 */
	record Finished(String reason, Usage usage) implements Chunk {
	}

}
