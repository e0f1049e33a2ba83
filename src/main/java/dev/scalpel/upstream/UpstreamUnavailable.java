package dev.scalpel.upstream;

import java.time.Duration;

import org.springframework.http.HttpStatus;

import dev.scalpel.system.ProblemAnswer;
import dev.scalpel.system.Problems;

/** The endpoint's circuit breaker is open: the start is refused at once, nothing was created. */
public final class UpstreamUnavailable extends ProblemAnswer {

	UpstreamUnavailable(String endpoint, Duration retryAfter) {
		super(HttpStatus.SERVICE_UNAVAILABLE, Problems.of(HttpStatus.SERVICE_UNAVAILABLE, "upstream_unavailable",
				"Upstream unavailable", "The endpoint '" + endpoint
						+ "' is failing and its circuit breaker is open; starts routed to it are refused for now."),
				null);
		getBody().setProperty("endpoint", endpoint);
		retryAfter(retryAfter);
	}

}
