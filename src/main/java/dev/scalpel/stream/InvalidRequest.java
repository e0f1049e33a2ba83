package dev.scalpel.stream;

import java.util.List;

import org.springframework.http.HttpStatus;

import dev.scalpel.system.ProblemAnswer;
import dev.scalpel.system.Problems;
import dev.scalpel.system.Problems.FieldProblem;

/** A request broke the contract: a field is missing, of the wrong type, out of range or too large. */
public final class InvalidRequest extends ProblemAnswer {

	private InvalidRequest(HttpStatus status, String slug, String title, List<FieldProblem> errors) {
		super(status, Problems.withErrors(Problems.of(status, slug, title, describe(errors)), errors), null);
	}

	/** {@code 400}: a field is wrong. */
	public static InvalidRequest invalid(List<FieldProblem> errors) {
		return new InvalidRequest(HttpStatus.BAD_REQUEST, "invalid_request", "Invalid request", errors);
	}

	/** {@code 400}: one field is wrong. */
	public static InvalidRequest invalid(String field, String message) {
		return invalid(List.of(new FieldProblem(field, message)));
	}

	/** {@code 413}: the request is over a size limit. */
	static InvalidRequest tooLarge(List<FieldProblem> errors) {
		return new InvalidRequest(HttpStatus.CONTENT_TOO_LARGE, "payload_too_large", "Request too large", errors);
	}

	private static String describe(List<FieldProblem> errors) {
		StringBuilder detail = new StringBuilder();
		for (FieldProblem error : errors) {
			detail.append((detail.length() == 0) ? "" : "; ").append(error.field()).append(": ").append(error.message());
		}
		return detail.toString();
	}

}
