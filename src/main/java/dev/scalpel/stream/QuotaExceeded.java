package dev.scalpel.stream;

import java.time.Duration;

import org.springframework.http.HttpStatus;

import dev.scalpel.system.ProblemAnswer;
import dev.scalpel.system.Problems;

/**
 * A key is over one of its own limits (streams at once, starts a minute); nothing was created.
 * Distinct from {@link Overloaded}: the service has room, this key has had its share. Carries
 * {@code Retry-After}.
 */
public final class QuotaExceeded extends ProblemAnswer {

	QuotaExceeded(String detail, Duration retryAfter) {
		super(HttpStatus.TOO_MANY_REQUESTS,
				Problems.of(HttpStatus.TOO_MANY_REQUESTS, "quota_exceeded", "Quota exceeded", detail), null);
		retryAfter(retryAfter);
	}

}
