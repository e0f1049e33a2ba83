package dev.scalpel.security;

import org.springframework.http.HttpStatus;

import dev.scalpel.system.ProblemAnswer;
import dev.scalpel.system.Problems;

/** Known credentials that do not allow this request, or a cross-origin call from an origin not allowed. */
final class Forbidden extends ProblemAnswer {

	Forbidden(String detail) {
		super(HttpStatus.FORBIDDEN, Problems.of(HttpStatus.FORBIDDEN, "forbidden", "Forbidden", detail), null);
	}

}
