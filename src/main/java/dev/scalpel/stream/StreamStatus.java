package dev.scalpel.stream;

import java.util.Locale;
import java.util.Optional;

/** The lifecycle of a stream. The last three are terminal and absorbing. */
public enum StreamStatus {

	QUEUED, IN_PROGRESS, COMPLETED, FAILED, CANCELLED;

	/** Whether no transition leaves this status. */
	public boolean terminal() {
		return this == COMPLETED || this == FAILED || this == CANCELLED;
	}

	/** The name on the wire: {@code queued}, {@code in_progress}, ... */
	public String wireName() {
		return name().toLowerCase(Locale.ROOT);
	}

	/** The status with this wire name, if any. */
	public static Optional<StreamStatus> fromWireName(String name) {
		for (StreamStatus status : values()) {
			if (status.wireName().equals(name)) {
				return Optional.of(status);
			}
		}
		return Optional.empty();
	}

}
