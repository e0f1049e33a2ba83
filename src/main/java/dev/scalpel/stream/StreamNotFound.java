package dev.scalpel.stream;

import org.springframework.http.HttpStatus;

import dev.scalpel.system.ProblemAnswer;
import dev.scalpel.system.Problems;

/** No stream has this id, or its retention has passed. Malformed ids land here too. */
public final class StreamNotFound extends ProblemAnswer {

	public StreamNotFound(String id) {
		super(HttpStatus.NOT_FOUND, Problems.of(HttpStatus.NOT_FOUND, "stream_not_found", "Stream not found",
				"No stream '" + Problems.printable(id) + "' exists, or its retention has passed."), null);
	}

}
