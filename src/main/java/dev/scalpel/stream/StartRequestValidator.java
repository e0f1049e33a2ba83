package dev.scalpel.stream;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.jspecify.annotations.Nullable;

import dev.scalpel.system.LimitProperties;
import dev.scalpel.system.Problems.FieldProblem;
import dev.scalpel.upstream.GenerationRequest;
import dev.scalpel.upstream.Message;

/**
 * Checks a {@link StartStreamRequest} against API.md and {@link LimitProperties}, naming every field
 * at fault. Size limits answer {@code 413}, everything else {@code 400}.
 */
final class StartRequestValidator {

	static final int MAX_METADATA_ENTRIES = 16;

	static final int MAX_METADATA_KEY = 64;

	static final int MAX_METADATA_VALUE = 512;

	static final int MAX_MODEL_NAME = 256;

	private static final Set<String> ROLES = Set.of("system", "user", "assistant");

	private final LimitProperties limits;

	private final String defaultModel;

	StartRequestValidator(LimitProperties limits, String defaultModel) {
		this.limits = limits;
		this.defaultModel = defaultModel;
	}

	/** A valid start, ready to route and run. */
	record ValidStart(GenerationRequest generation, boolean background, Map<String, String> metadata) {
	}

	ValidStart validate(StartStreamRequest request) {
		List<FieldProblem> errors = new ArrayList<>();
		List<FieldProblem> tooLarge = new ArrayList<>();
		String model = model(request.model(), errors);
		List<Message> messages = messages(request, errors, tooLarge);
		Integer maxTokens = request.maxTokens();
		if (maxTokens != null && (maxTokens < 1 || maxTokens > this.limits.maxTokens())) {
			errors.add(new FieldProblem("max_tokens", "must be between 1 and " + this.limits.maxTokens()));
		}
		Double temperature = request.temperature();
		if (temperature != null && !(temperature >= 0 && temperature <= 2)) {
			errors.add(new FieldProblem("temperature", "must be between 0 and 2"));
		}
		Map<String, String> metadata = metadata(request.metadata(), errors);
		if (!errors.isEmpty()) {
			throw InvalidRequest.invalid(errors);
		}
		if (!tooLarge.isEmpty()) {
			throw InvalidRequest.tooLarge(tooLarge);
		}
		boolean background = Boolean.TRUE.equals(request.background());
		return new ValidStart(new GenerationRequest(model, messages, maxTokens, temperature), background, metadata);
	}

	private String model(@Nullable String model, List<FieldProblem> errors) {
		if (model == null) {
			return this.defaultModel;
		}
		if (model.isBlank() || model.length() > MAX_MODEL_NAME) {
			errors.add(new FieldProblem("model", "must be a model name of 1 to " + MAX_MODEL_NAME + " characters"));
		}
		return model;
	}

	private List<Message> messages(StartStreamRequest request, List<FieldProblem> errors,
			List<FieldProblem> tooLarge) {
		List<Message> messages = new ArrayList<>();
		if (request.messages() != null && request.prompt() != null) {
			errors.add(new FieldProblem("messages", "give either messages or prompt, not both"));
			return messages;
		}
		if (request.prompt() != null) {
			if (request.prompt().isBlank()) {
				errors.add(new FieldProblem("prompt", "must not be blank"));
			}
			messages.add(new Message("user", request.prompt()));
		}
		else if (request.messages() != null) {
			List<StartStreamRequest.@Nullable MessageBody> bodies = request.messages();
			if (bodies.isEmpty()) {
				errors.add(new FieldProblem("messages", "must hold at least one message"));
			}
			if (bodies.size() > this.limits.maxMessages()) {
				tooLarge.add(new FieldProblem("messages", "must hold at most " + this.limits.maxMessages() + " messages"));
				return messages;
			}
			for (int i = 0; i < bodies.size(); i++) {
				StartStreamRequest.MessageBody body = bodies.get(i);
				if (body == null) {
					errors.add(new FieldProblem("messages[" + i + "]", "must be an object with role and content"));
					continue;
				}
				if (body.role() == null || !ROLES.contains(body.role())) {
					errors.add(new FieldProblem("messages[" + i + "].role", "must be one of system, user, assistant"));
				}
				if (body.content() == null) {
					errors.add(new FieldProblem("messages[" + i + "].content", "must be a string"));
				}
				else {
					messages.add(new Message(String.valueOf(body.role()), body.content()));
				}
			}
		}
		else {
			errors.add(new FieldProblem("messages", "give either messages or prompt"));
		}
		long chars = 0;
		for (Message message : messages) {
			chars += message.content().length();
		}
		if (chars > this.limits.maxPromptChars()) {
			tooLarge.add(new FieldProblem((request.prompt() != null) ? "prompt" : "messages",
					"must hold at most " + this.limits.maxPromptChars() + " characters of content"));
		}
		return messages;
	}

	private static Map<String, String> metadata(@Nullable Map<String, @Nullable Object> metadata,
			List<FieldProblem> errors) {
		if (metadata == null) {
			return Map.of();
		}
		if (metadata.size() > MAX_METADATA_ENTRIES) {
			errors.add(new FieldProblem("metadata", "must hold at most " + MAX_METADATA_ENTRIES + " entries"));
			return Map.of();
		}
		Map<String, String> valid = new LinkedHashMap<>();
		for (Map.Entry<String, @Nullable Object> entry : metadata.entrySet()) {
			String key = entry.getKey();
			if (key.isEmpty() || key.length() > MAX_METADATA_KEY) {
				errors.add(new FieldProblem("metadata", "keys must be 1 to " + MAX_METADATA_KEY + " characters"));
				continue;
			}
			if (!(entry.getValue() instanceof String value)) {
				errors.add(new FieldProblem("metadata." + key, "must be a string"));
				continue;
			}
			if (value.length() > MAX_METADATA_VALUE) {
				errors.add(new FieldProblem("metadata." + key, "must be at most " + MAX_METADATA_VALUE + " characters"));
				continue;
			}
			valid.put(key, value);
		}
		return valid;
	}

}
