package dev.scalpel.system;

import java.util.List;

import org.jspecify.annotations.Nullable;

import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatus;
import org.springframework.http.InvalidMediaTypeException;
import org.springframework.http.MediaType;

/**
 * The {@code Accept} header, read before a start does anything. Spring reads it again when it writes
 * the answer, which for a start is after the stream exists: an unreadable header refused then (a
 * {@code 406}) would leave a stream, and on the OpenAI door its first listener, behind an answer that
 * says nothing was done. Found by the hostile-input property test.
 */
public final class AcceptHeader {

	private AcceptHeader() {
	}

	/** The most media types Spring sorts when it negotiates ({@code MimeTypeUtils.sortBySpecificity}). */
	static final int MAX_TYPES = 50;

	/**
	 * The media types of the {@code Accept} header, in its order; a {@code 400} problem if unreadable or
	 * longer than Spring negotiates with.
	 */
	public static List<MediaType> parse(HttpHeaders headers) {
		List<MediaType> accepted;
		try {
			accepted = headers.getAccept();
		}
		catch (InvalidMediaTypeException ex) {
			throw invalid(ex);
		}
		if (accepted.size() > MAX_TYPES) {
			throw invalid(null);
		}
		return accepted;
	}

	/** The problem for an {@code Accept} header that cannot be used. */
	public static ProblemAnswer invalid(@Nullable Throwable cause) {
		String message = "is not a valid media type list of at most " + MAX_TYPES + " types";
		return new ProblemAnswer(HttpStatus.BAD_REQUEST,
				Problems.withErrors(Problems.of(HttpStatus.BAD_REQUEST, "invalid_request", "Invalid request",
						"Accept: " + message), List.of(new Problems.FieldProblem("Accept", message))),
				cause);
	}

}
