package dev.scalpel.upstream;

import java.util.List;
import java.util.Map;

import org.jspecify.annotations.Nullable;

/**
 * What to generate, already validated.
 * @param model the model name as the provider knows it
 * @param messages the conversation, at least one message
 * @param maxTokens the most tokens to generate, or null for the provider's default
 * @param temperature sampling temperature, or null for the provider's default
 * @param options further request fields for the provider, by their OpenAI names ({@code top_p},
 * {@code stop}, {@code seed}, ...; values as JSON trees or plain values): each protocol sends those it
 * understands, in its own terms, and leaves the others out
 */
public record GenerationRequest(String model, List<Message> messages, @Nullable Integer maxTokens,
		@Nullable Double temperature, Map<String, Object> options) {

	public GenerationRequest {
		messages = List.copyOf(messages);
		options = Map.copyOf(options);
	}

	public GenerationRequest(String model, List<Message> messages, @Nullable Integer maxTokens,
			@Nullable Double temperature) {
		this(model, messages, maxTokens, temperature, Map.of());
	}

	/** This request for another model name (the name an endpoint knows the model by). */
	public GenerationRequest withModel(String model) {
		return model.equals(this.model) ? this
				: new GenerationRequest(model, this.messages, this.maxTokens, this.temperature, this.options);
	}

	/** This request with these provider options. */
	public GenerationRequest withOptions(Map<String, Object> options) {
		return new GenerationRequest(this.model, this.messages, this.maxTokens, this.temperature, options);
	}

}
