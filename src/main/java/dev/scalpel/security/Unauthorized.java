package dev.scalpel.security;

import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;

import dev.scalpel.system.ProblemAnswer;
import dev.scalpel.system.Problems;

/** No valid credentials: a {@code 401} problem with {@code WWW-Authenticate: Bearer}. */
final class Unauthorized extends ProblemAnswer {

	Unauthorized(String detail, boolean invalidToken) {
		super(HttpStatus.UNAUTHORIZED, Problems.of(HttpStatus.UNAUTHORIZED, "unauthorized", "Unauthorized", detail),
				null);
		getHeaders().set(HttpHeaders.WWW_AUTHENTICATE,
				invalidToken ? "Bearer realm=\"scalpel\", error=\"invalid_token\"" : "Bearer realm=\"scalpel\"");
	}

}
