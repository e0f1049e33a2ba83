package dev.scalpel.stream;

import org.springframework.http.HttpStatus;
import org.springframework.web.ErrorResponseException;

import dev.scalpel.system.Problems;

/** No stream has this id, or its retention has passed. Malformed ids land here too. */
public final class StreamNotFound extends ErrorResponseException {

	StreamNotFound(String id) {
		super(HttpStatus.NOT_FOUND, Problems.of(HttpStatus.NOT_FOUND, "stream_not_found", "Stream not found",
				"No stream '" + abbreviate(id) + "' exists, or its retention has passed."), null);
	}

	private static String abbreviate(String id) {
		String printable = id.replaceAll("[^A-Za-z0-9_-]", "?");
		return (printable.length() > 64) ? printable.substring(0, 64) + "..." : printable;
	}

}
