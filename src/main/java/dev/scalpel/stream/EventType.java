package dev.scalpel.stream;

import org.jspecify.annotations.Nullable;

/** The types of a stream's events, by their SSE {@code event:} names (API.md). */
public enum EventType {

	CREATED("stream.created"), QUEUED("stream.queued"), STARTED("stream.started"), TOKEN("token"),
	/** A piece of the model's tool calls, as an OpenAI-compatible provider sent it. */
	TOOL_CALLS("tool_calls"),
	COMPLETED("stream.completed"), FAILED("stream.failed"), CANCELLED("stream.cancelled");

	private final String wireName;

	EventType(String wireName) {
		this.wireName = wireName;
	}

	/** The name on the wire, e.g. {@code stream.created}. */
	public String wireName() {
		return this.wireName;
	}

	/** Whether this is the type of a stream's terminal event, always its last. */
	public boolean terminal() {
		return this == COMPLETED || this == FAILED || this == CANCELLED;
	}

	/** The type of the terminal event of a stream that ended with {@code status}. */
	static EventType terminal(StreamStatus status) {
		return switch (status) {
			case COMPLETED -> COMPLETED;
			case FAILED -> FAILED;
			case CANCELLED -> CANCELLED;
			default -> throw new IllegalArgumentException("not a terminal status: " + status);
		};
	}

	/** The type with this wire name; null for a name that is none of them. */
	static @Nullable EventType fromWireName(String name) {
		for (EventType type : values()) {
			if (type.wireName.equals(name)) {
				return type;
			}
		}
		return null;
	}

}
