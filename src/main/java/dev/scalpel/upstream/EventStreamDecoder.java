package dev.scalpel.upstream;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.jspecify.annotations.Nullable;

import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferLimitException;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.http.codec.ServerSentEvent;

/**
 * Reads a provider's event stream ({@code text/event-stream}) from the raw buffers of its response,
 * one call's decoder fed in order: lines end with LF, CRLF or CR, a blank line ends an event, and
 * only the fields the protocol readers use are kept ({@code event} and {@code data}; comments,
 * {@code id} and {@code retry} are skipped). An event without data is not passed on: no reader acts
 * on one.
 *
 * <p>Why not Spring's {@code ServerSentEventHttpMessageReader}, which this replaced: on the token
 * path, with a thousand streams each sending an event every 50 ms, its line splitting (a per-byte
 * matcher over each buffer), its per-line strings and the operators that group lines into events
 * were about a sixth of Scalpel's event loop in the {@code steady} benchmark's profile. Here each
 * buffer is copied once into an array, scanned for line ends, and each field becomes one string.
 * {@code EventStreamDecoderTest} holds it to Spring's reader's output over random streams cut at
 * random places.
 *
 * <p>The bytes kept for one event (its lines so far, the unfinished one included) are limited, like
 * Spring's reader limits them, so a provider cannot make Scalpel buffer without end: past the limit,
 * {@link #decode} throws {@link DataBufferLimitException}.
 */
final class EventStreamDecoder {

	private static final byte LF = '\n';

	private static final byte CR = '\r';

	private static final byte[] DATA = "data".getBytes(StandardCharsets.US_ASCII);

	private static final byte[] EVENT = "event".getBytes(StandardCharsets.US_ASCII);

	/** Most bytes an unfinished line keeps its array at once it is done with a longer one. */
	private static final int PARTIAL = 256;

	/**
	 * The buffer being read, copied: one array per thread (the event loops), not per stream, which an
	 * idle stream would hold at the size of the largest buffer it ever read (the {@code capacity}
	 * benchmark, 9,000 idle streams in 512 MiB, ran out of memory with one per stream). Nothing runs
	 * between the copy and the end of {@link #decode} that could use it again.
	 */
	private static final ThreadLocal<byte[]> INPUT = ThreadLocal.withInitial(() -> new byte[8192]);

	private final int limit;

	/** An unfinished line, carried over to the next buffer. */
	private byte[] partial = new byte[PARTIAL];

	private int partialLength;

	/** The last buffer ended with CR: an LF starting the next one ends no line. */
	private boolean afterCr;

	/** Bytes of the current event's finished lines. */
	private int eventBytes;

	private @Nullable String event;

	private @Nullable String data;

	private @Nullable StringBuilder moreData;

	private @Nullable List<ServerSentEvent<String>> decoded;

	/** @param limit the most bytes kept for one event */
	EventStreamDecoder(int limit) {
		this.limit = limit;
	}

	/** The events the buffer completes, in order; always releases the buffer. */
	List<ServerSentEvent<String>> decode(DataBuffer buffer) {
		int length;
		byte[] bytes = INPUT.get();
		try {
			length = buffer.readableByteCount();
			if (bytes.length < length) {
				bytes = new byte[Math.max(length, 2 * bytes.length)];
				INPUT.set(bytes);
			}
			buffer.read(bytes, 0, length);
		}
		finally {
			DataBufferUtils.release(buffer);
		}
		if (length == 0) {
			return List.of();
		}
		int start = 0;
		if (this.afterCr && bytes[0] == LF) {
			start = 1;
		}
		this.afterCr = false;
		int lineStart = start;
		for (int i = start; i < length; i++) {
			byte b = bytes[i];
			if (b != LF && b != CR) {
				continue;
			}
			if (this.partialLength > 0) {
				carry(bytes, lineStart, i - lineStart);
				line(this.partial, 0, this.partialLength);
				this.partialLength = 0;
				if (this.partial.length > 16 * PARTIAL) {
					this.partial = new byte[PARTIAL];
				}
			}
			else {
				line(bytes, lineStart, i - lineStart);
			}
			if (b == CR) {
				if (i + 1 < length) {
					if (bytes[i + 1] == LF) {
						i++;
					}
				}
				else {
					this.afterCr = true;
				}
			}
			lineStart = i + 1;
		}
		if (lineStart < length) {
			carry(bytes, lineStart, length - lineStart);
		}
		return taken();
	}

	/**
	 * The stream ended: its last event, when its blank line never came (Spring's reader passes it on
	 * too, and a provider's last {@code data: [DONE]} may end that way).
	 */
	List<ServerSentEvent<String>> finish() {
		if (this.partialLength > 0) {
			line(this.partial, 0, this.partialLength);
			this.partialLength = 0;
		}
		dispatch();
		return taken();
	}

	private List<ServerSentEvent<String>> taken() {
		List<ServerSentEvent<String>> events = this.decoded;
		if (events == null) {
			return List.of();
		}
		this.decoded = null;
		return events;
	}

	/** Keeps an unfinished line's bytes for the next buffer, within the event's limit. */
	private void carry(byte[] bytes, int from, int length) {
		int needed = this.partialLength + length;
		if (this.eventBytes + needed > this.limit) {
			throw tooLong();
		}
		if (this.partial.length < needed) {
			this.partial = Arrays.copyOf(this.partial, Math.max(needed, 2 * this.partial.length));
		}
		System.arraycopy(bytes, from, this.partial, this.partialLength, length);
		this.partialLength = needed;
	}

	private void line(byte[] bytes, int from, int length) {
		if (length == 0) {
			dispatch();
			return;
		}
		this.eventBytes += length;
		if (this.eventBytes > this.limit) {
			throw tooLong();
		}
		if (bytes[from] == ':') {
			return;
		}
		int colon = -1;
		for (int i = from; i < from + length; i++) {
			if (bytes[i] == ':') {
				colon = i;
				break;
			}
		}
		int nameEnd = (colon < 0) ? from + length : colon;
		int valueStart = (colon < 0) ? from + length : colon + 1;
		if (valueStart < from + length && bytes[valueStart] == ' ') {
			valueStart++;
		}
		int valueLength = from + length - valueStart;
		if (named(bytes, from, nameEnd, DATA)) {
			String value = new String(bytes, valueStart, valueLength, StandardCharsets.UTF_8);
			if (this.data == null) {
				this.data = value;
			}
			else {
				if (this.moreData == null) {
					this.moreData = new StringBuilder(this.data);
				}
				this.moreData.append('\n').append(value);
			}
		}
		else if (named(bytes, from, nameEnd, EVENT)) {
			this.event = new String(bytes, valueStart, valueLength, StandardCharsets.UTF_8).strip();
		}
	}

	private static boolean named(byte[] bytes, int from, int to, byte[] name) {
		return Arrays.equals(bytes, from, to, name, 0, name.length);
	}

	private void dispatch() {
		String value = (this.moreData != null) ? this.moreData.toString() : this.data;
		if (value != null && !value.isEmpty()) {
			if (this.decoded == null) {
				this.decoded = new ArrayList<>(2);
			}
			ServerSentEvent.Builder<String> builder = ServerSentEvent.builder(value);
			if (this.event != null) {
				builder.event(this.event);
			}
			this.decoded.add(builder.build());
		}
		this.event = null;
		this.data = null;
		this.moreData = null;
		this.eventBytes = 0;
	}

	private DataBufferLimitException tooLong() {
		return new DataBufferLimitException("An event of the provider's stream is longer than " + this.limit + " bytes");
	}

}
