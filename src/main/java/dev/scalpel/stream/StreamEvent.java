package dev.scalpel.stream;

import java.nio.charset.StandardCharsets;
import java.util.Objects;

import org.jspecify.annotations.Nullable;
import tools.jackson.core.io.JsonStringEncoder;

/**
 * One event of a stream, as it goes out over SSE: its id, type and one line of JSON, encoded once
 * when the event is appended, and its SSE frame, encoded once on first use and then shared by every
 * listener that writes it (the frame is the same bytes whoever reads it). Immutable.
 */
public final class StreamEvent {

	private static final String TOKEN_PREFIX = "{\"text\":";

	private static final String TOOL_CALLS_PREFIX = "{\"tool_calls\":";

	private final long id;

	private final String type;

	private final String data;

	/** The SSE frame; computed at most a few times (a benign race) and then read. */
	private volatile byte @Nullable [] frame;

	/**
	 * @param id the per-stream sequence number, from 1
	 * @param type the SSE event type, e.g. {@code token}
	 * @param data the JSON of the event, on one line
	 */
	public StreamEvent(long id, String type, String data) {
		this.id = id;
		this.type = Objects.requireNonNull(type, "type");
		this.data = Objects.requireNonNull(data, "data");
	}

	StreamEvent(long id, EventType type, String data) {
		this(id, type.wireName(), data);
	}

	/** The per-stream sequence number, from 1. */
	public long id() {
		return this.id;
	}

	/** The SSE event type, e.g. {@code token}. */
	public String type() {
		return this.type;
	}

	/** Whether this event is of {@code type}. */
	public boolean is(EventType type) {
		return type.wireName().equals(this.type);
	}

	/** The event's type; null for a type that is none of {@link EventType}'s. */
	public @Nullable EventType eventType() {
		return EventType.fromWireName(this.type);
	}

	/** The JSON of the event, on one line. */
	public String data() {
		return this.data;
	}

	/**
	 * The data of a {@code token} event: {@code {"text":"..."}}, written by hand rather than through a
	 * map and the mapper, for it is on the path of every token. {@link #tokenLiteral()} reads it back.
	 */
	static String tokenData(String text) {
		StringBuilder json = new StringBuilder(text.length() + 12).append(TOKEN_PREFIX).append('"');
		JsonStringEncoder.getInstance().quoteAsString(text, json);
		return json.append("\"}").toString();
	}

	/** The data of a {@code tool_calls} event, the provider's pieces as they came; read back by {@link #toolCallsJson()}. */
	static String toolCallsData(String json) {
		return TOOL_CALLS_PREFIX + json + "}";
	}

	/**
	 * The text of a {@code token} event as a JSON string literal, quotes included, as it stands in the
	 * event's data (as {@link #tokenData} writes it): for another
	 * wire format to carry the text without decoding and encoding it again.
	 */
	public String tokenLiteral() {
		if (!is(EventType.TOKEN) || !this.data.startsWith(TOKEN_PREFIX) || !this.data.endsWith("}")) {
			throw new IllegalStateException("not a token event: " + this.type);
		}
		return this.data.substring(TOKEN_PREFIX.length(), this.data.length() - 1);
	}

	/** The JSON array of a {@code tool_calls} event's pieces, as it stands in the event's data. */
	public String toolCallsJson() {
		if (!is(EventType.TOOL_CALLS) || !this.data.startsWith(TOOL_CALLS_PREFIX) || !this.data.endsWith("}")) {
			throw new IllegalStateException("not a tool_calls event: " + this.type);
		}
		return this.data.substring(TOOL_CALLS_PREFIX.length(), this.data.length() - 1);
	}

	/**
	 * About how many bytes of heap the event holds: the object, its data and its frame (counted
	 * whether or not it was written yet). An estimate, for the retention memory budget.
	 */
	int weight() {
		// Object 32, data String 24 + array 16 + chars (Latin-1 mostly), frame array 16 + the data and
		// about 30 bytes of id and type.
		return 118 + 2 * this.data.length() + this.type.length();
	}

	/** Whether this is the stream's terminal event, always its last. */
	public boolean terminal() {
		return is(EventType.COMPLETED) || is(EventType.FAILED) || is(EventType.CANCELLED);
	}

	/**
	 * The event as an SSE frame in UTF-8: {@code id:}, {@code event:} and {@code data:} lines and the
	 * blank line that ends it (one {@code data:} line per line of data, should data ever hold a line
	 * break). Callers must not modify the array.
	 */
	byte[] frame() {
		byte[] frame = this.frame;
		if (frame == null) {
			frame = (this.id >= 0 && ascii(this.type) && lineEnd(this.data, 0) < 0) ? oneLineFrame() : anyFrame();
			this.frame = frame;
		}
		return frame;
	}

	/**
	 * The frame of one line of data, written straight into its array: every token goes through here,
	 * and going through a {@code StringBuilder} and a {@code String} first made three copies of it.
	 */
	private byte[] oneLineFrame() {
		byte[] data = this.data.getBytes(StandardCharsets.UTF_8);
		int digits = 1;
		for (long rest = this.id / 10; rest > 0; rest /= 10) {
			digits++;
		}
		int type = this.type.length();
		byte[] frame = new byte[3 + digits + 7 + type + 6 + data.length + 2];
		int at = ascii("id:", frame, 0);
		long rest = this.id;
		for (int i = at + digits - 1; i >= at; i--) {
			frame[i] = (byte) ('0' + rest % 10);
			rest /= 10;
		}
		at = ascii("\nevent:", frame, at + digits);
		at = ascii(this.type, frame, at);
		at = ascii("\ndata:", frame, at);
		System.arraycopy(data, 0, frame, at, data.length);
		frame[frame.length - 2] = '\n';
		frame[frame.length - 1] = '\n';
		return frame;
	}

	private static boolean ascii(String text) {
		for (int i = 0; i < text.length(); i++) {
			if (text.charAt(i) >= 0x80) {
				return false;
			}
		}
		return true;
	}

	/** Writes ASCII {@code text} at {@code at}; returns the index after it. */
	private static int ascii(String text, byte[] into, int at) {
		for (int i = 0; i < text.length(); i++) {
			into[at + i] = (byte) text.charAt(i);
		}
		return at + text.length();
	}

	/** Any frame: data of several lines gets a {@code data:} line each. */
	private byte[] anyFrame() {
		StringBuilder text = new StringBuilder(this.data.length() + this.type.length() + 32).append("id:")
			.append(this.id)
			.append("\nevent:")
			.append(this.type)
			.append('\n');
		int start = 0;
		int end;
		while ((end = lineEnd(this.data, start)) >= 0) {
			text.append("data:").append(this.data, start, end).append('\n');
			start = end + ((this.data.charAt(end) == '\r' && end + 1 < this.data.length()
					&& this.data.charAt(end + 1) == '\n') ? 2 : 1);
		}
		text.append("data:").append(this.data, start, this.data.length()).append("\n\n");
		return text.toString().getBytes(StandardCharsets.UTF_8);
	}


	/**
	 * The event whose frame ({@link #frame()}) is {@code frames[from, to)}, with that frame: for a
	 * frozen log. Data of one line only (what {@link EventLog#freeze()} keeps).
	 */
	static StreamEvent fromFrame(byte[] frames, int from, int to) {
		// id:<id>\nevent:<type>\ndata:<data>\n\n
		int idEnd = indexOf(frames, (byte) '\n', from, to);
		int typeEnd = indexOf(frames, (byte) '\n', idEnd + 1, to);
		int dataEnd = indexOf(frames, (byte) '\n', typeEnd + 1, to);
		long id = Long.parseLong(new String(frames, from + 3, idEnd - from - 3, StandardCharsets.US_ASCII));
		String type = new String(frames, idEnd + 7, typeEnd - idEnd - 7, StandardCharsets.UTF_8);
		String data = new String(frames, typeEnd + 6, dataEnd - typeEnd - 6, StandardCharsets.UTF_8);
		StreamEvent event = new StreamEvent(id, type, data);
		event.frame = java.util.Arrays.copyOfRange(frames, from, to);
		return event;
	}

	private static int indexOf(byte[] bytes, byte value, int from, int to) {
		for (int i = from; i < to; i++) {
			if (bytes[i] == value) {
				return i;
			}
		}
		throw new IllegalArgumentException("Not an event frame");
	}

	private static int lineEnd(String text, int from) {
		for (int i = from; i < text.length(); i++) {
			char c = text.charAt(i);
			if (c == '\n' || c == '\r') {
				return i;
			}
		}
		return -1;
	}

	@Override
	public boolean equals(@Nullable Object other) {
		return this == other || (other instanceof StreamEvent event && this.id == event.id
				&& this.type.equals(event.type) && this.data.equals(event.data));
	}

	@Override
	public int hashCode() {
		return Objects.hash(this.id, this.type, this.data);
	}

	@Override
	public String toString() {
		return "StreamEvent[id=" + this.id + ", type=" + this.type + ", data=" + this.data + "]";
	}

}
