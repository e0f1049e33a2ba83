package dev.scalpel.stream;

import java.time.Duration;

import org.springframework.http.HttpStatus;

import dev.scalpel.system.ProblemAnswer;
import dev.scalpel.system.Problems;

/** Every slot is busy and the wait queue is full; nothing was created. Carries {@code Retry-After}. */
public final class Overloaded extends ProblemAnswer {

	Overloaded(int slots, int queue, Duration retryAfter) {
		super(HttpStatus.TOO_MANY_REQUESTS, Problems.of(HttpStatus.TOO_MANY_REQUESTS, "overloaded", "Overloaded",
				"All " + slots + " slots are busy and the wait queue is full (" + queue + " waiting). Retry later."),
				null);
		retryAfter(retryAfter);
	}

}
