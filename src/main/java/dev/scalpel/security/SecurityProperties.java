package dev.scalpel.security;

import java.time.Duration;
import java.util.List;

import jakarta.validation.Valid;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;
import jakarta.validation.constraints.Pattern;
import org.jspecify.annotations.Nullable;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * Access to the API ({@code scalpel.security.*}). With no {@code keys} the API is open (a warning
 * says so at startup); with keys, every {@code /v1} request needs one.
 *
 * @param keys the API keys, by name and SHA-256 hash (never the key itself)
 * @param quota the limits of a key that sets none of its own (0: none)
 * @param attachToken the browser attach tokens
 * @param cors the browser origins allowed to call the API from another origin
 */
@Validated
@ConfigurationProperties("scalpel.security")
public record SecurityProperties(@DefaultValue @Valid List<ApiKey> keys, @DefaultValue @Valid Quota quota,
		@DefaultValue @Valid AttachToken attachToken, @DefaultValue @Valid Cors cors) {

	/** What a key name may be: it appears in listings for operators, metrics-free, and in Redis keys. */
	static final String NAME_PATTERN = "[A-Za-z0-9][A-Za-z0-9._-]{0,63}";

	/**
	 * One API key.
	 * @param name the key's name: the owner of the streams it starts, shown to operators (unique)
	 * @param sha256 the SHA-256 of the key, 64 hex digits ({@code printf %s "$KEY" | sha256sum})
	 * @param role {@code user} (its own streams) or {@code admin} (also lists, sees and cancels all)
	 * @param maxConcurrentStreams streams of this key not yet ended, at most (unset: {@code quota}'s)
	 * @param startsPerMinute streams this key may start a minute (unset: {@code quota}'s)
	 */
	public record ApiKey(@NotNull @Pattern(regexp = NAME_PATTERN) String name,
			@NotNull @Pattern(regexp = "[0-9a-fA-F]{64}", message = "must be 64 hex digits (a SHA-256)") String sha256,
			@DefaultValue("user") Role role, @Nullable @Min(0) Integer maxConcurrentStreams,
			@Nullable @Min(0) Integer startsPerMinute) {

		@Override
		public String toString() {
			// Hashes are not secrets, but configuration dumps need not carry them either.
			return "ApiKey[name=" + this.name + ", role=" + this.role + "]";
		}

	}

	/** What a key may do. */
	public enum Role {

		/** Starts streams and sees, attaches to, lists and cancels its own. */
		USER,

		/** As a user, and lists, sees and cancels every key's streams (reads no other key's events). */
		ADMIN

	}

	/**
	 * Per-key limits on each replica; 0 means none.
	 * @param maxConcurrentStreams streams of one key not yet ended (queued or in progress)
	 * @param startsPerMinute streams one key may start a minute
	 */
	public record Quota(@DefaultValue("0") @Min(0) int maxConcurrentStreams,
			@DefaultValue("0") @Min(0) int startsPerMinute) {
	}

	/**
	 * Browser attach tokens ({@code ?token=} on the events endpoint).
	 * @param ttl how long after it was issued a token may be used to attach
	 * @param secret the signing secret, at least 32 characters, the same on every replica (unset: a
	 * random one per process, so tokens work only on the replica that issued them)
	 */
	public record AttachToken(@DefaultValue("5m") @NotNull Duration ttl, @Nullable String secret) {

		@Override
		public String toString() {
			return "AttachToken[ttl=" + this.ttl + ", secret=" + ((this.secret != null) ? "(set)" : "(random)") + "]";
		}

	}

	/**
	 * Cross-origin calls from browsers.
	 * @param allowedOrigins origins allowed, e.g. {@code https://app.example.com} (none by default:
	 * browsers may call the API from its own origin only)
	 * @param maxAge how long a browser may cache a preflight answer
	 */
	public record Cors(@DefaultValue List<String> allowedOrigins, @DefaultValue("30m") Duration maxAge) {
	}

}
