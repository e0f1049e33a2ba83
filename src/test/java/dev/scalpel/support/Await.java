package dev.scalpel.support;

import java.time.Duration;

import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;

/** Awaitility with a bound and a fast poll, for waits on events that take milliseconds. */
public final class Await {

	private Await() {
	}

	/** Polls at once and then every 2 ms, failing after {@code atMost}. */
	public static ConditionFactory atMost(Duration atMost) {
		return Awaitility.await().atMost(atMost).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(2));
	}

}
