package dev.scalpel.stream;

/**
 * One event of a stream, as it goes out over SSE.
 * @param id the per-stream sequence number, from 1
 * @param type the SSE event type, e.g. {@code token}
 * @param data one line of JSON, encoded once when the event is appended
 */
public record StreamEvent(long id, String type, String data) {

	public static final String CREATED = "stream.created";

	public static final String QUEUED = "stream.queued";

	public static final String STARTED = "stream.started";

	public static final String TOKEN = "token";

	/** Whether this is the stream's terminal event, always its last. */
	public boolean terminal() {
		return this.type.equals("stream.completed") || this.type.equals("stream.failed")
				|| this.type.equals("stream.cancelled");
	}

	static String terminalType(StreamStatus status) {
		return "stream." + status.wireName();
	}

}
