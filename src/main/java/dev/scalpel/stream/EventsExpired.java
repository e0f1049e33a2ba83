package dev.scalpel.stream;

import org.springframework.http.HttpStatus;

import dev.scalpel.system.ProblemAnswer;
import dev.scalpel.system.Problems;

/** A listener asked to resume from a position older than the retained events of its stream. */
public final class EventsExpired extends ProblemAnswer {

	public EventsExpired(long after, long oldestRetained) {
		super(HttpStatus.GONE, Problems.of(HttpStatus.GONE, "events_expired", "Events no longer retained",
				"Events after " + after + " are no longer retained; the oldest retained event is " + oldestRetained
						+ ". Read the status instead, or resume from a newer position."),
				null);
		getBody().setProperty("oldest_event_id", oldestRetained);
	}

}
