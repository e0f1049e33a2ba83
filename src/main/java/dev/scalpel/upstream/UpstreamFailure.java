package dev.scalpel.upstream;

import java.time.Duration;
import java.util.regex.Pattern;

import org.jspecify.annotations.Nullable;

/**
 * What a provider did wrong, made safe to show to a client: the endpoint, the HTTP status and the
 * provider's error type and message when it sent them, never a key (see {@link #sanitise}).
 */
public final class UpstreamFailure extends RuntimeException {

	private static final int MAX_MESSAGE = 300;

	/** Keys in the shapes providers use, wherever they turn up in a provider's message. */
	private static final Pattern KEY_LIKE = Pattern
		.compile("(sk-[A-Za-z0-9_*\\-]{6,}|Bearer\\s+\\S+|AKIA[0-9A-Z]{12,}|[A-Za-z0-9_\\-]{40,})");

	/** How the call failed. */
	public enum Kind {

		/** The provider answered with an error status before streaming. */
		STATUS,

		/** The provider sent an error event in the middle of its stream. */
		STREAM_ERROR,

		/** The stream was not valid SSE or its chunks not valid JSON. */
		MALFORMED,

		/**
		 * The connection could not be opened, or was reset or closed before the provider answered
		 * ({@link #unanswered()}) or mid-stream.
		 */
		CONNECTION,

		/** The connection did not open within the connect timeout. */
		CONNECT_TIMEOUT,

		/** The stream ended without the provider saying it had finished. */
		INCOMPLETE

	}

	private final String endpoint;

	private final Kind kind;

	private final @Nullable Integer status;

	private final @Nullable String providerType;

	private final @Nullable Duration retryAfter;

	private final boolean unanswered;

	UpstreamFailure(String endpoint, Kind kind, @Nullable Integer status, @Nullable String providerType,
			String message, @Nullable Duration retryAfter, @Nullable Throwable cause) {
		this(endpoint, kind, status, providerType, message, retryAfter, cause, false);
	}

	private UpstreamFailure(String endpoint, Kind kind, @Nullable Integer status, @Nullable String providerType,
			String message, @Nullable Duration retryAfter, @Nullable Throwable cause, boolean unanswered) {
		super(message, cause, false, false);
		this.endpoint = endpoint;
		this.kind = kind;
		this.status = status;
		this.providerType = providerType;
		this.retryAfter = retryAfter;
		this.unanswered = unanswered;
	}

	/**
	 * A {@link Kind#CONNECTION} failure before the provider answered anything: the connection was
	 * refused, or closed or reset before the response's status line.
	 */
	static UpstreamFailure unanswered(String endpoint, String message, Throwable cause) {
		return new UpstreamFailure(endpoint, Kind.CONNECTION, null, null, message, null, cause, true);
	}

	public String endpoint() {
		return this.endpoint;
	}

	public Kind kind() {
		return this.kind;
	}

	/** The provider's HTTP status, for {@link Kind#STATUS}. */
	public @Nullable Integer status() {
		return this.status;
	}

	/** The provider's own error type (e.g. {@code rate_limit_error}), when it sent one. */
	public @Nullable String providerType() {
		return this.providerType;
	}

	/** The provider's {@code Retry-After}, when it sent one. */
	public @Nullable Duration retryAfter() {
		return this.retryAfter;
	}

	/** Whether the connection failed before the provider answered anything (see {@link #unanswered(String, String, Throwable)}). */
	public boolean unanswered() {
		return this.unanswered;
	}

	/** This failure with its message {@linkplain #sanitise sanitised}. */
	UpstreamFailure sanitised(@Nullable String apiKey) {
		return new UpstreamFailure(this.endpoint, this.kind, this.status,
				(this.providerType != null) ? sanitise(this.providerType, apiKey) : null,
				sanitise(getMessage(), apiKey), this.retryAfter, getCause(), this.unanswered);
	}

	/**
	 * A failure worth trying again before any token: a {@code 429} or {@code 503} refusal, or a
	 * connection that failed before the provider answered (refused, or closed or reset before the
	 * status line), which is what a provider restarting or a load balancer dropping a connection
	 * looks like; the provider has generated nothing the client could have seen. A connect timeout
	 * is not retried: a provider that does not answer within it is down, and waiting for it again
	 * would hold the slot for several timeouts.
	 */
	public boolean retryable() {
		return (this.kind == Kind.STATUS && this.status != null && (this.status == 429 || this.status == 503))
				|| (this.kind == Kind.CONNECTION && this.unanswered);
	}

	/**
	 * Whether this says something about the endpoint's health, for its circuit breaker. A request the
	 * provider judged wrong ({@code 400}, {@code 404}, {@code 413}, {@code 422}) says nothing about it.
	 */
	public boolean countsAsFailure() {
		return !(this.kind == Kind.STATUS && this.status != null
				&& (this.status == 400 || this.status == 404 || this.status == 413 || this.status == 422));
	}

	/**
	 * Text from a provider made safe to pass on: the configured key and anything shaped like a key
	 * masked, control characters replaced, at most 300 characters.
	 */
	static String sanitise(@Nullable String text, @Nullable String apiKey) {
		if (text == null) {
			return "";
		}
		String safe = text;
		if (apiKey != null && apiKey.length() >= 4) {
			safe = safe.replace(apiKey, "***");
		}
		safe = KEY_LIKE.matcher(safe).replaceAll("***").replaceAll("\\p{Cntrl}", " ").strip();
		return (safe.length() > MAX_MESSAGE) ? safe.substring(0, MAX_MESSAGE) + "..." : safe;
	}

}
