package dev.scalpel.system;

import org.springframework.http.HttpStatus;
import org.springframework.util.unit.DataSize;

/** A request body over {@code scalpel.limits.max-body-size}. */
public final class RequestTooLarge extends ProblemAnswer {

	public RequestTooLarge(DataSize limit) {
		super(HttpStatus.CONTENT_TOO_LARGE, Problems.of(HttpStatus.CONTENT_TOO_LARGE, "payload_too_large",
				"Request too large", "The request body is larger than " + limit.toBytes() + " bytes."), null);
	}

}
