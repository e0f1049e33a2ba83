package dev.scalpel.stream;

import org.springframework.http.HttpStatus;

import dev.scalpel.system.ProblemAnswer;
import dev.scalpel.system.Problems;

/** The service is draining before it stops and takes no new streams. */
public final class ShuttingDown extends ProblemAnswer {

	ShuttingDown() {
		super(HttpStatus.SERVICE_UNAVAILABLE, Problems.of(HttpStatus.SERVICE_UNAVAILABLE, "shutting_down",
				"Shutting down", "This instance is stopping and takes no new streams; retry on another."), null);
	}

}
