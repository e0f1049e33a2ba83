package dev.scalpel.system;

import java.net.URI;
import java.util.List;

import org.springframework.http.HttpStatusCode;
import org.springframework.http.ProblemDetail;

/** Builds the RFC 9457 problem details Scalpel answers with; types live under one base URI. */
public final class Problems {

	/** Every problem type Scalpel defines is this base followed by a snake_case slug. */
	public static final String TYPE_BASE = "https://scalpel.dev/problems/";

	private Problems() {
	}

	/** The type URI for a slug, e.g. {@code overloaded}. */
	public static URI type(String slug) {
		return URI.create(TYPE_BASE + slug);
	}

	/** A problem with a Scalpel type, a title and a detail. */
	public static ProblemDetail of(HttpStatusCode status, String slug, String title, String detail) {
		ProblemDetail problem = ProblemDetail.forStatusAndDetail(status, detail);
		problem.setType(type(slug));
		problem.setTitle(title);
		return problem;
	}

	/** A problem that names the fields at fault. */
	public static ProblemDetail withErrors(ProblemDetail problem, List<FieldProblem> errors) {
		problem.setProperty("errors", errors);
		return problem;
	}

	/** Text from a request made safe to echo in a problem: no control characters, at most 64 characters. */
	public static String printable(String text) {
		String printable = text.replaceAll("\\p{Cntrl}", "?");
		return (printable.length() > 64) ? printable.substring(0, 64) + "..." : printable;
	}

	/** A field at fault and what is wrong with it. */
	public record FieldProblem(String field, String message) {
	}

}
