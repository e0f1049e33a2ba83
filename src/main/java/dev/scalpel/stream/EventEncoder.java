package dev.scalpel.stream;

import tools.jackson.databind.json.JsonMapper;

/** Event payloads as one line of JSON each, encoded once per event when it is appended. */
final class EventEncoder {

	private final JsonMapper json;

	EventEncoder(JsonMapper json) {
		this.json = json;
	}

	/** The data of a status event: the status object as of that event. */
	String status(StreamView view) {
		return this.json.writeValueAsString(view);
	}

	/** The data of a {@code token} event, written by hand ({@link StreamEvent#tokenData}). */
	String token(String text) {
		return StreamEvent.tokenData(text);
	}

	/** The data of a {@code stream.queued} event. */
	String queued(int position) {
		return "{\"queue_position\":" + position + "}";
	}

}
