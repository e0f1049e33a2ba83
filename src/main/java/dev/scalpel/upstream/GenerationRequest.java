package dev.scalpel.upstream;

import java.util.List;

import org.jspecify.annotations.Nullable;

/**
 * What to generate, already validated.
 * @param model the model name as the provider knows it
 * @param messages the conversation, at least one message
 * @param maxTokens the most tokens to generate, or null for the provider's default
 * @param temperature sampling temperature, or null for the provider's default
 */
public record GenerationRequest(String model, List<Message> messages, @Nullable Integer maxTokens,
		@Nullable Double temperature) {

	public GenerationRequest {
		messages = List.copyOf(messages);
	}

	/** This request for another model name (the name an endpoint knows the model by). */
	public GenerationRequest withModel(String model) {
		return model.equals(this.model) ? this : new GenerationRequest(model, this.messages, this.maxTokens,
				this.temperature);
	}

}
