package dev.scalpel.slot;

import java.time.Duration;

/** A waiter did not get a slot within the queue timeout and has left the queue. */
public final class QueueTimeout extends RuntimeException {

	QueueTimeout(Duration timeout) {
		super("no slot became free within " + timeout, null, false, false);
	}

}
