package dev.scalpel.stream;

import java.util.List;
import java.util.Map;

import org.jspecify.annotations.Nullable;

/**
 * The body of {@code POST /v1/streams}, as parsed; {@link StartRequestValidator} checks it.
 * Unknown fields are ignored so that clients may send more than this version knows.
 */
public record StartStreamRequest(@Nullable String model, @Nullable List<@Nullable MessageBody> messages,
		@Nullable String prompt, @Nullable Integer maxTokens, @Nullable Double temperature,
		@Nullable Boolean background, @Nullable Map<String, @Nullable Object> metadata) {

	/** One message of {@code messages}. */
	public record MessageBody(@Nullable String role, @Nullable String content) {
	}

}
