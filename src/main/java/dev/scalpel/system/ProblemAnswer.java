package dev.scalpel.system;

import java.time.Duration;

import org.jspecify.annotations.Nullable;

import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatusCode;
import org.springframework.http.ProblemDetail;
import org.springframework.web.ErrorResponseException;

/**
 * An answer Scalpel gives with a problem detail (a refusal, an unknown stream, a full queue), thrown
 * to end a request. It is how a request is expected to end, not a fault, so it takes no stack trace:
 * none is ever logged, and filling one in was, with the copies Reactor's checkpoints take of it on
 * the way out through Spring's filter chain, an eighth of the event loop's time per {@code 429} under
 * a flood of refusals (async-profiler; README, "Performance"). A cause, when given, keeps its own.
 * Scalpel's code throws no other {@link ErrorResponseException} ({@code ArchitectureTest}).
 */
public class ProblemAnswer extends ErrorResponseException {

	public ProblemAnswer(HttpStatusCode status, ProblemDetail body, @Nullable Throwable cause) {
		super(status, body, cause);
	}

	/** Sets {@code Retry-After} to the wait in whole seconds, rounded up, at least one. */
	protected final void retryAfter(Duration wait) {
		getHeaders().set(HttpHeaders.RETRY_AFTER, String.valueOf(Math.max(1, (wait.toMillis() + 999) / 1000)));
	}

	@Override
	public final synchronized Throwable fillInStackTrace() {
		return this;
	}

}
