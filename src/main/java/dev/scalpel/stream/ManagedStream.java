package dev.scalpel.stream;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import org.jspecify.annotations.Nullable;
import reactor.core.Disposable;

import dev.scalpel.slot.Permit;
import dev.scalpel.upstream.GenerationRequest;
import dev.scalpel.upstream.TokenSource;

/**
 * The stream aggregate: its state machine, its bounded event log, its listeners and the resources
 * it holds ({@link Holdings}: permit, queue place, upstream call, timers).
 *
 * <p>Every change happens under this object's monitor and appends its event in the same critical
 * section, so the log and the status never disagree and nothing is appended after the terminal
 * event. The terminal transition is a compare-and-set under that monitor: the first one wins and
 * hands the held resources to its caller, which releases them; every later one is a no-op. Only
 * {@link StreamLifecycle} ends a stream. Listeners are signalled outside the monitor. What it writes
 * to the shared store goes through its {@link Replication}; its weight for the retention is
 * estimated by {@link RetainedWeight}.
 */
final class ManagedStream {

	private final String id;

	private final long order;

	private final RetainedWeight retained = new RetainedWeight();

	/** Null once the ended stream was compacted ({@link #compact()}). */
	private volatile @Nullable GenerationRequest request;

	private final TokenSource source;

	private final boolean background;

	/** The name of the API key that started it ({@link Caller#owner()}). */
	private final String owner;

	/** Whether its start took a place of the owner's quota, which its end gives back. */
	private final boolean quotaCounted;

	private final EventEncoder encoder;

	private final EventLog log;

	private final Replication replication;

	private final List<Listener> listeners = new CopyOnWriteArrayList<>();

	// Everything below is guarded by this.

	private volatile StreamStatus status = StreamStatus.QUEUED;

	private final StatusRecord record;

	private boolean everAttached;

	/** {@link System#nanoTime()} of creation, of asking for a slot, of getting it, of losing the last listener. */
	private final long createdNanos = System.nanoTime();

	private long askedNanos;

	private long startedNanos;

	private long unattendedSince;

	private long endedNanos;

	private final Holdings holdings = new Holdings();

	ManagedStream(String id, long order, GenerationRequest request, String model, TokenSource source,
			boolean background, Map<String, String> metadata, String owner, boolean quotaCounted, Instant createdAt,
			int maxEvents, EventEncoder encoder, SharedStreams shared) {
		this.id = id;
		this.order = order;
		this.request = request;
		this.source = source;
		this.background = background;
		this.owner = owner;
		this.quotaCounted = quotaCounted;
		this.record = new StatusRecord(id, model, background, createdAt, metadata);
		this.encoder = encoder;
		this.replication = new Replication(shared, id);
		this.log = new EventLog(maxEvents);
		synchronized (this) {
			appendStatus(EventType.CREATED);
		}
	}

	/**
	 * Its start was accepted: shares its creation, then the events appended so far (the creation, a
	 * queue position) as they would have been shared when appended; later ones are shared as they
	 * come. Before the stream is visible to anyone, once.
	 */
	synchronized void publish() {
		this.replication.publish(this.owner, this.record.createdAt(), this.log.after(0, Integer.MAX_VALUE),
				id -> this.encoder.status(viewLocked(id)), this.record.outputTokens());
	}

	String id() {
		return this.id;
	}

	long order() {
		return this.order;
	}

	String owner() {
		return this.owner;
	}

	boolean quotaCounted() {
		return this.quotaCounted;
	}

	/** What to generate; null once the stream ended and was compacted. */
	@Nullable GenerationRequest request() {
		return this.request;
	}

	/** When the registry retired the stream and what it then weighed. */
	RetainedWeight retained() {
		return this.retained;
	}

	/**
	 * About how many bytes of heap this ended stream holds: its events, its prompt, its status. An
	 * estimate, for the retention memory budget.
	 */
	synchronized long weight() {
		return compactedWeight() + this.log.bytes() + RetainedWeight.of(this.request);
	}

	/** About how many bytes of heap the stream holds once compacted: its status and metadata. */
	long compactedWeight() {
		return this.record.weight(this.owner);
	}

	/**
	 * Keeps an ended stream's events as their frames only ({@link EventLog#freeze()}): a fraction of
	 * the heap and of the objects, for the retention.
	 */
	synchronized void freeze() {
		if (!terminal()) {
			throw new IllegalStateException("Stream " + this.id + " is not ended");
		}
		this.log.freeze();
	}

	/**
	 * Lets go of an ended stream's events and prompt, keeping what its status needs: replaying it
	 * then answers as for events no longer retained. For the retention memory budget.
	 */
	synchronized void compact() {
		if (!terminal()) {
			throw new IllegalStateException("Stream " + this.id + " is not ended");
		}
		this.log.clear();
		this.request = null;
	}

	/** The model as the start named it. */
	String model() {
		return this.record.model();
	}

	TokenSource source() {
		return this.source;
	}

	boolean background() {
		return this.background;
	}

	StreamStatus status() {
		return this.status;
	}

	boolean terminal() {
		return this.status.terminal();
	}

	synchronized boolean hasFirstToken() {
		return this.record.hasFirstToken();
	}

	synchronized StreamView view() {
		return viewLocked(this.log.lastId());
	}

	int listenerCount() {
		return this.listeners.size();
	}

	// --- acquiring a slot

	/** Records the queue place being requested; false when terminal or already acquiring. */
	synchronized boolean beginAcquiring(Disposable acquisition) {
		if (terminal() || this.holdings.acquiring()) {
			return false;
		}
		this.holdings.acquiring(acquisition);
		this.askedNanos = System.nanoTime();
		return true;
	}

	/** Forgets a queue place that was refused (the queue was full). */
	synchronized void abandonAcquiring(Disposable acquisition) {
		this.holdings.abandon(acquisition);
	}

	synchronized boolean acquiring() {
		return this.holdings.acquiring();
	}

	/** A better queue position; positions only improve, a stale larger one is ignored. */
	synchronized boolean queued(int position) {
		if (this.status != StreamStatus.QUEUED || this.holdings.permit() != null || !this.record.queued(position)) {
			return false;
		}
		StreamEvent queued = this.log.append(EventType.QUEUED.wireName(), this.encoder.queued(position));
		share(queued, this.replication.wantsViews() ? this.encoder.status(viewLocked(queued.id())) : null);
		return true;
	}

	/**
	 * Takes the slot and the upstream call that is about to start. False when the stream is already
	 * terminal; the caller then still owns the permit and must release it.
	 */
	synchronized boolean start(Permit permit, Disposable generation, Disposable deadline, Instant now,
			@Nullable Integer promptTokens) {
		if (terminal()) {
			return false;
		}
		this.holdings.started(permit, generation, deadline);
		this.status = StreamStatus.IN_PROGRESS;
		this.record.started(now, promptTokens);
		this.startedNanos = System.nanoTime();
		appendStatus(EventType.STARTED);
		return true;
	}

	/** Appends a token unless the stream has ended, and wakes its listeners at the end of the loop's turn. */
	Appended token(String text, Instant now) {
		return woken(output(EventType.TOKEN, this.encoder.token(text), now));
	}

	/**
	 * Appends a piece of the model's tool calls ({@code tool_calls} event, data
	 * {@code {"tool_calls": [...]}} with the provider's pieces as they came) unless the stream has
	 * ended; like a token, it is output, so the first one sets {@code first_token_at}.
	 */
	Appended toolCalls(String json, Instant now) {
		return woken(output(EventType.TOOL_CALLS, StreamEvent.toolCallsData(json), now));
	}

	/** Outside the monitor: listeners are woken after the append that they will read. */
	private Appended woken(Appended appended) {
		if (appended != Appended.DROPPED) {
			signalSoon();
		}
		return appended;
	}

	private synchronized Appended output(EventType type, String data, Instant now) {
		if (this.status != StreamStatus.IN_PROGRESS) {
			return Appended.DROPPED;
		}
		boolean first = this.record.output(now);
		StreamEvent output = this.log.append(type.wireName(), data);
		share(output, (first && this.replication.wantsViews()) ? this.encoder.status(viewLocked(output.id())) : null);
		return first ? Appended.FIRST : Appended.NEXT;
	}

	/** Nanoseconds from asking for a slot to now. */
	synchronized long sinceAsked(long now) {
		return now - this.askedNanos;
	}

	// --- ending

	/**
	 * The terminal transition: the first call wins and returns what the stream held; later calls,
	 * and calls whose guard does not hold, return null and change nothing.
	 */
	synchronized @Nullable HeldResources end(Ending ending, Guard guard, Instant now) {
		if (terminal() || (guard == Guard.UNATTENDED && !this.listeners.isEmpty())
				|| (guard == Guard.NEVER_ATTACHED && this.everAttached)) {
			return null;
		}
		this.status = ending.reason().status();
		this.record.ended(ending, now);
		this.endedNanos = System.nanoTime();
		appendStatus(EventType.terminal(this.status));
		return this.holdings.handOver(this.createdNanos, this.startedNanos);
	}

	/** The resources {@link #end} handed out have been let go. */
	synchronized void released() {
		this.holdings.released();
	}

	// --- listeners

	/**
	 * Adds a listener that will read the events after {@code after}. Refused with {@link EventsExpired}
	 * when those are no longer retained and with {@link InvalidRequest} when {@code after} is beyond
	 * the newest event. Until {@link #attached()} confirms it, the attach may still be undone with
	 * {@link #detach} and leaves no trace.
	 */
	synchronized void attach(Listener listener, long after) {
		if (after > this.log.lastId()) {
			throw InvalidRequest.invalid("after",
					"position " + after + " is beyond the newest event (" + this.log.lastId() + ")");
		}
		if (!this.log.retains(after)) {
			throw new EventsExpired(after, this.log.firstId());
		}
		this.listeners.add(listener);
		this.unattendedSince = 0;
	}

	/**
	 * Confirms an attach that nothing refused: the stream now has had a listener, so the attach
	 * timeout no longer applies, and a pending disconnect grace is moot.
	 */
	synchronized void attached() {
		this.everAttached = true;
		if (!terminal()) {
			this.holdings.disarm();
		}
	}

	/** Removes a listener; the number left, or -1 if it was not attached. */
	synchronized int detach(Listener listener) {
		if (!this.listeners.remove(listener)) {
			return -1;
		}
		if (this.listeners.isEmpty()) {
			this.unattendedSince = System.nanoTime();
		}
		return this.listeners.size();
	}

	/** Arms the attach timeout or the disconnect grace, replacing any earlier timer. */
	synchronized boolean arm(Disposable timer) {
		if (terminal()) {
			return false;
		}
		this.holdings.arm(timer);
		return true;
	}

	/** Reads up to {@code max} events after {@code after}; null when they are no longer retained. */
	synchronized @Nullable List<StreamEvent> read(long after, int max) {
		if (!this.log.retains(after)) {
			return null;
		}
		return this.log.after(after, max);
	}

	/** The stream as its owner holds it, for writing it again to a shared store. */
	synchronized SharedStreams.Snapshot snapshot() {
		return this.replication.snapshot(this.owner, this.record.createdAt(),
				this.log.after(this.log.firstId() - 1, Integer.MAX_VALUE), this.encoder.status(viewLocked(this.log.lastId())),
				this.record.outputTokens(), terminal());
	}

	/** What the leak audit and the operator view read of the stream, taken under its monitor. */
	synchronized AuditSnapshot audit() {
		return new AuditSnapshot(this.status, this.holdings.permit(), this.holdings.releasing(), this.startedNanos, this.endedNanos,
				this.everAttached, this.unattendedSince, this.createdNanos, List.copyOf(this.listeners));
	}

	/** Tells every attached listener that events may be waiting. */
	void signal() {
		for (Listener listener : this.listeners) {
			listener.drain();
		}
	}

	/** As {@link #signal()}, at the end of the event loop's turn ({@link Listener#wakeSoon()}): for tokens. */
	void signalSoon() {
		for (Listener listener : this.listeners) {
			listener.wakeSoon();
		}
	}

	synchronized long lastEventId() {
		return this.log.lastId();
	}

	/** Appends a status event (its data: the status object as of itself) and shares it. */
	private void appendStatus(EventType type) {
		String view = this.encoder.status(viewLocked(this.log.lastId() + 1));
		share(this.log.append(type.wireName(), view), view);
	}

	private void share(StreamEvent event, @Nullable String view) {
		this.replication.appended(event, view, this.record.outputTokens());
	}

	/** The status object; {@code lastEventId} is the newest event's id, or the one about to be appended. */
	private StreamView viewLocked(long lastEventId) {
		return this.record.view(this.status, lastEventId);
	}

}
