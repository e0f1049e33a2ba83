package dev.scalpel.stream;

import java.util.ArrayList;
import java.util.List;

import org.jspecify.annotations.Nullable;

/**
 * The retained events of one stream: a ring that grows on demand up to a bound and then drops its
 * oldest event for each new one. Not thread-safe; its stream guards it.
 *
 * <p>Once its stream has ended, the log can be frozen: the events' SSE frames are copied back to back
 * into one array and the events let go. An ended stream is kept for its retention (minutes) and is
 * rarely read again, and an event object with its data string and frame is three objects and about
 * three times the bytes of its frame alone: the {@code steady} benchmark's garbage collections spent
 * their pauses promoting exactly those, hundreds per stream. A frozen log reads its events back from
 * the frames, new objects each time.
 */
final class EventLog {

	private static final int INITIAL = 16;

	private final int bound;

	private StreamEvent[] ring;

	/** Index in {@link #ring} of the oldest retained event. */
	private int head;

	private int size;

	private long lastId;

	/** The weight of the retained events ({@link StreamEvent#weight()}), or of the frozen frames. */
	private long bytes;

	/** When frozen: the frames of the retained events, oldest first, back to back; else null. */
	private byte @Nullable [] frames;

	/** When frozen: where each retained event's frame starts in {@link #frames}, and its end last. */
	private int @Nullable [] starts;

	EventLog(int bound) {
		this.bound = bound;
		this.ring = new StreamEvent[Math.min(INITIAL, bound)];
	}

	StreamEvent append(String type, String data) {
		thaw();
		StreamEvent event = new StreamEvent(++this.lastId, type, data);
		if (this.size == this.ring.length && this.ring.length < this.bound) {
			grow();
		}
		this.bytes += event.weight();
		if (this.size == this.ring.length) {
			this.bytes -= this.ring[this.head].weight();
			this.ring[this.head] = event;
			this.head = (this.head + 1) % this.ring.length;
		}
		else {
			this.ring[(this.head + this.size) % this.ring.length] = event;
			this.size++;
		}
		return event;
	}

	/** About how many bytes of heap the retained events hold. */
	long bytes() {
		return this.bytes;
	}

	/**
	 * Lets go of every retained event, keeping the ids: what follows {@link #lastId()} is still
	 * known, what came before it answers as no longer retained. For an ended stream only.
	 */
	void clear() {
		this.frames = null;
		this.starts = null;
		this.ring = new StreamEvent[0];
		this.head = 0;
		this.size = 0;
		this.bytes = 0;
	}

	/** Id of the newest event, 0 when there is none. */
	long lastId() {
		return this.lastId;
	}

	/** Id of the oldest retained event, or {@code lastId() + 1} when empty. */
	long firstId() {
		return this.lastId - this.size + 1;
	}

	/** Whether the events after {@code after} are all still retained. */
	boolean retains(long after) {
		return after + 1 >= firstId();
	}

	/** Up to {@code max} events with ids above {@code after}; call only when {@link #retains}. */
	List<StreamEvent> after(long after, int max) {
		long from = after + 1;
		int available = (int) Math.max(0, this.lastId - after);
		int count = Math.min(available, max);
		List<StreamEvent> events = new ArrayList<>(count);
		int offset = (int) (from - firstId());
		for (int i = 0; i < count; i++) {
			events.add(event(offset + i));
		}
		return events;
	}

	/** The retained event at this index, oldest 0. */
	private StreamEvent event(int index) {
		byte[] frozen = this.frames;
		int[] at = this.starts;
		if (frozen != null && at != null) {
			return StreamEvent.fromFrame(frozen, at[index], at[index + 1]);
		}
		return this.ring[(this.head + index) % this.ring.length];
	}

	/**
	 * Keeps the retained events as their frames only, in one array (see the class comment); for a
	 * stream that has ended. A log with an event whose data spans lines stays as it is (its frame
	 * would not give the data back exactly).
	 */
	void freeze() {
		if (this.frames != null) {
			return;
		}
		int total = 0;
		for (int i = 0; i < this.size; i++) {
			StreamEvent event = event(i);
			if (event.data().indexOf('\n') >= 0 || event.data().indexOf('\r') >= 0) {
				return;
			}
			total += event.frame().length;
		}
		byte[] frozen = new byte[total];
		int[] at = new int[this.size + 1];
		int position = 0;
		for (int i = 0; i < this.size; i++) {
			byte[] frame = event(i).frame();
			at[i] = position;
			System.arraycopy(frame, 0, frozen, position, frame.length);
			position += frame.length;
		}
		at[this.size] = position;
		this.frames = frozen;
		this.starts = at;
		this.ring = new StreamEvent[0];
		this.head = 0;
		this.bytes = 48 + (long) total + 4L * at.length;
	}

	/** Whether the log is frozen. */
	boolean frozen() {
		return this.frames != null;
	}

	/** Back to a ring of events, should anything be appended after all. */
	private void thaw() {
		if (this.frames == null) {
			return;
		}
		StreamEvent[] events = new StreamEvent[Math.max(this.size, Math.min(INITIAL, this.bound))];
		long weight = 0;
		for (int i = 0; i < this.size; i++) {
			events[i] = event(i);
			weight += events[i].weight();
		}
		this.frames = null;
		this.starts = null;
		this.ring = events;
		this.head = 0;
		this.bytes = weight;
	}

	private void grow() {
		StreamEvent[] bigger = new StreamEvent[(int) Math.min(Math.max((long) this.ring.length * 2, INITIAL), this.bound)];
		for (int i = 0; i < this.size; i++) {
			bigger[i] = this.ring[(this.head + i) % this.ring.length];
		}
		this.ring = bigger;
		this.head = 0;
	}

}
