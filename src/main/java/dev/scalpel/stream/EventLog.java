package dev.scalpel.stream;

import java.util.ArrayList;
import java.util.List;

/**
 * The retained events of one stream: a ring that grows on demand up to a bound and then drops its
 * oldest event for each new one. Not thread-safe; its stream guards it.
 */
final class EventLog {

	private static final int INITIAL = 16;

	private final int bound;

	private StreamEvent[] ring;

	/** Index in {@link #ring} of the oldest retained event. */
	private int head;

	private int size;

	private long lastId;

	/** The weight of the retained events ({@link StreamEvent#weight()}). */
	private long bytes;

	EventLog(int bound) {
		this.bound = bound;
		this.ring = new StreamEvent[Math.min(INITIAL, bound)];
	}

	StreamEvent append(String type, String data) {
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
			events.add(this.ring[(this.head + offset + i) % this.ring.length]);
		}
		return events;
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
