package dev.scalpel.upstream;

import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import jakarta.validation.Valid;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotBlank;
import jakarta.validation.constraints.NotEmpty;
import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Pattern;
import org.hibernate.validator.constraints.time.DurationMin;
import org.jspecify.annotations.Nullable;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * Models and providers ({@code scalpel.providers.*}).
 *
 * @param defaultModel the model of a request that names none
 * @param simulated the built-in {@code simulated} model
 * @param endpoints the real providers, any number; a model is routed to the first endpoint that lists it
 */
@Validated
@ConfigurationProperties("scalpel.providers")
public record ProviderProperties(
		@DefaultValue("simulated") @NotBlank String defaultModel,
		@DefaultValue @Valid @NotNull Simulated simulated,
		@DefaultValue @Valid @NotNull List<@Valid @NotNull Endpoint> endpoints) {

	/**
	 * The built-in model: a deterministic reply that depends on the prompt, needing no key or server.
	 *
	 * @param replyTokens the length of its reply; a {@code max_tokens} below it ends with {@code length}
	 * @param tokensPerSecond the pace of its tokens
	 * @param firstTokenDelay the wait before its first token
	 */
	public record Simulated(
			@DefaultValue("48") @Min(1) @Max(1_000_000) int replyTokens,
			@DefaultValue("20") @Min(1) @Max(1_000_000) int tokensPerSecond,
			@DefaultValue("200ms") @DurationMin(millis = 0) @NotNull Duration firstTokenDelay) {
	}

	/** The wire protocol of an endpoint. */
	public enum Type {

		/** Any OpenAI-compatible chat-completions server: OpenAI, vLLM, TGI, Ollama, llama.cpp, LM Studio, ... */
		OPENAI,

		/** Anthropic's Messages API. */
		ANTHROPIC

	}

	/**
	 * One real provider.
	 *
	 * @param name how requests name it explicitly ({@code <name>/<model>}) and how metrics tag it
	 * @param type its protocol
	 * @param baseUrl the API root, e.g. {@code https://api.openai.com/v1}; the protocol's path is appended
	 * @param apiKey its key, best taken from the environment or a mounted secret; never logged
	 * @param models the model names routed here without a prefix
	 * @param headers extra request headers (e.g. an organisation or a gateway's routing header)
	 * @param includeUsage (OpenAI) ask for the usage report with {@code stream_options.include_usage};
	 * turn off for servers that refuse that field, usage is then counted
	 * @param defaultMaxTokens (Anthropic) the {@code max_tokens} sent when a request sets none: the
	 * Messages API requires one
	 * @param anthropicVersion (Anthropic) the {@code anthropic-version} header
	 */
	public record Endpoint(
			@NotBlank @Pattern(regexp = "[A-Za-z0-9][A-Za-z0-9._-]{0,63}",
					message = "must be 1 to 64 letters, digits, '.', '_' or '-'") String name,
			@NotNull Type type,
			@NotNull URI baseUrl,
			@Nullable String apiKey,
			@DefaultValue @NotNull List<@NotBlank String> models,
			@DefaultValue @NotNull Map<String, String> headers,
			@DefaultValue("true") boolean includeUsage,
			@DefaultValue("4096") @Min(1) @Max(1_000_000) int defaultMaxTokens,
			@DefaultValue("2023-06-01") @NotBlank String anthropicVersion) {

		/** Whether a key is configured. */
		public boolean hasApiKey() {
			return this.apiKey != null && !this.apiKey.isBlank();
		}

		/** Never prints the key or header values (they may hold credentials). */
		@Override
		public String toString() {
			return "Endpoint[name=" + this.name + ", type=" + this.type + ", baseUrl=" + this.baseUrl + ", apiKey="
					+ (hasApiKey() ? "(set)" : "(none)") + ", models=" + this.models + ", headers="
					+ this.headers.keySet() + "]";
		}

	}

}
