package dev.scalpel.stream;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import org.jspecify.annotations.Nullable;
import reactor.core.Disposable;

import dev.scalpel.slot.Permit;
import dev.scalpel.upstream.GenerationRequest;
import dev.scalpel.upstream.Message;
import dev.scalpel.upstream.TokenSource;
import dev.scalpel.upstream.Usage;

/**
 * The stream aggregate: its state machine, its bounded event log, its listeners and the resources
 * it holds (permit, queue place, upstream call, timers).
 *
 * <p>Every change happens under this object's monitor and appends its event in the same critical
 * section, so the log and the status never disagree and nothing is appended after the terminal
 * event. The terminal transition is a compare-and-set under that monitor: the first one wins and
 * hands the held resources to its caller, which releases them; every later one is a no-op. Only
 * {@link StreamManager} calls the mutating methods. Listeners are signalled outside the monitor.
 */
final class ManagedStream {

	private static final DateTimeFormatter TIMESTAMP = DateTimeFormatter
		.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")
		.withZone(ZoneOffset.UTC);

	private final String id;

	private final long order;

	/** When the registry retired the stream, by its caches' ticker. */
	private volatile long retiredTicks;

	/** What the stream weighed when the registry retired it. */
	private volatile long retainedWeight;

	/** Null once the ended stream was compacted ({@link #compact()}). */
	private volatile @Nullable GenerationRequest request;

	private final String model;

	private final TokenSource source;

	private final boolean background;

	private final Instant createdAt;

	private final Map<String, String> metadata;

	/** The name of the API key that started it ({@link Caller#owner()}). */
	private final String owner;

	/** Whether its start took a place of the owner's quota, which its end gives back. */
	private final boolean quotaCounted;

	private final EventEncoder encoder;

	private final EventLog log;

	private final SharedStreams shared;

	private final List<Listener> listeners = new CopyOnWriteArrayList<>();

	// Everything below is guarded by this.

	private volatile StreamStatus status = StreamStatus.QUEUED;

	private @Nullable FinishReason finishReason;

	private @Nullable Instant startedAt;

	private @Nullable Instant firstTokenAt;

	private @Nullable Instant endedAt;

	private @Nullable Instant cancelledAt;

	private @Nullable Integer queuePosition;

	private @Nullable Integer inputTokens;

	private int outputTokens;

	private StreamView.@Nullable ErrorView error;

	private boolean everAttached;

	/**
	 * Whether its creation and events go to the shared store: only once its start was accepted
	 * ({@link #publish}), so that a start refused with a full queue leaves nothing there (API.md: a
	 * rejected start creates no stream) and costs no write.
	 */
	private boolean published;

	/** {@link System#nanoTime()} of creation, of asking for a slot, of getting it, of losing the last listener. */
	private final long createdNanos = System.nanoTime();

	private long askedNanos;

	private long startedNanos;

	private long unattendedSince;

	private long endedNanos;

	private @Nullable Disposable acquisition;

	private @Nullable Permit permit;

	/**
	 * The slot of a generation that has ended but may not have been given back yet: {@link #end} hands
	 * it to the caller, which closes the upstream call first and frees the slot after. Until
	 * {@link #released()}, the leak auditor counts it as this stream's.
	 */
	private @Nullable Permit releasing;

	private @Nullable Disposable generation;

	private @Nullable Disposable deadline;

	private @Nullable Disposable timer;

	ManagedStream(String id, long order, GenerationRequest request, String model, TokenSource source,
			boolean background, Map<String, String> metadata, String owner, boolean quotaCounted, Instant createdAt,
			int maxEvents, EventEncoder encoder, SharedStreams shared) {
		this.id = id;
		this.order = order;
		this.request = request;
		this.model = model;
		this.source = source;
		this.background = background;
		this.metadata = Map.copyOf(metadata);
		this.owner = owner;
		this.quotaCounted = quotaCounted;
		this.createdAt = createdAt.truncatedTo(ChronoUnit.MILLIS);
		this.encoder = encoder;
		this.shared = shared;
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
		if (this.published) {
			return;
		}
		this.published = true;
		this.shared.created(this.id, this.owner, this.createdAt);
		List<StreamEvent> events = this.log.after(0, Integer.MAX_VALUE);
		for (int i = 0; i < events.size(); i++) {
			StreamEvent event = events.get(i);
			String view = null;
			if (event.is(EventType.CREATED)) {
				// A status event's data is the status object as of itself.
				view = event.data();
			}
			else if (i == events.size() - 1 && this.shared.wantsViews()) {
				view = this.encoder.status(viewLocked(event.id()));
			}
			share(event, view);
		}
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

	long retiredTicks() {
		return this.retiredTicks;
	}

	long retainedWeight() {
		return this.retainedWeight;
	}

	/** The registry retired the stream at {@code ticks}; it then weighed {@code weight}. */
	void retired(long ticks, long weight) {
		this.retiredTicks = ticks;
		this.retainedWeight = weight;
	}

	/**
	 * About how many bytes of heap this ended stream holds: its events, its prompt, its status. An
	 * estimate, for the retention memory budget.
	 */
	synchronized long weight() {
		return compactedWeight() + this.log.bytes() + requestWeight(this.request);
	}

	/** About how many bytes of heap the stream holds once compacted: its status and metadata. */
	long compactedWeight() {
		long weight = 1024 + this.id.length() + this.model.length() + this.owner.length();
		for (Map.Entry<String, String> entry : this.metadata.entrySet()) {
			weight += 64 + 2L * (entry.getKey().length() + entry.getValue().length());
		}
		return weight;
	}

	private static long requestWeight(@Nullable GenerationRequest request) {
		if (request == null) {
			return 0;
		}
		long weight = 256;
		for (Message message : request.messages()) {
			weight += 64 + 2L * message.content().length();
		}
		// Tool conversations and provider options: counted roughly by their JSON text.
		return weight + 2L * request.options().toString().length();
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
		return this.firstTokenAt != null;
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
		if (terminal() || this.acquisition != null) {
			return false;
		}
		this.acquisition = acquisition;
		this.askedNanos = System.nanoTime();
		return true;
	}

	/** Forgets a queue place that was refused (the queue was full). */
	synchronized void abandonAcquiring(Disposable acquisition) {
		if (this.acquisition == acquisition) {
			this.acquisition = null;
		}
	}

	synchronized boolean acquiring() {
		return this.acquisition != null;
	}

	/** A better queue position; positions only improve, a stale larger one is ignored. */
	synchronized boolean queued(int position) {
		if (this.status != StreamStatus.QUEUED || this.permit != null
				|| (this.queuePosition != null && position >= this.queuePosition)) {
			return false;
		}
		this.queuePosition = position;
		StreamEvent queued = this.log.append(EventType.QUEUED.wireName(), this.encoder.queued(position));
		share(queued, this.shared.wantsViews() ? this.encoder.status(viewLocked(queued.id())) : null);
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
		this.inputTokens = promptTokens;
		this.permit = permit;
		this.generation = generation;
		this.deadline = deadline;
		this.status = StreamStatus.IN_PROGRESS;
		this.startedAt = now.truncatedTo(ChronoUnit.MILLIS);
		this.startedNanos = System.nanoTime();
		this.queuePosition = null;
		appendStatus(EventType.STARTED);
		return true;
	}

	/** What became of a token. */
	enum Appended {

		/** The stream had ended: the token was dropped. */
		DROPPED,
		/** The stream's first token. */
		FIRST,
		/** A later token. */
		NEXT

	}

	/** Appends a token unless the stream has ended. */
	Appended token(String text, Instant now) {
		return output(EventType.TOKEN, this.encoder.token(text), now);
	}

	/**
	 * Appends a piece of the model's tool calls ({@code tool_calls} event, data
	 * {@code {"tool_calls": [...]}} with the provider's pieces as they came) unless the stream has
	 * ended; like a token, it is output, so the first one sets {@code first_token_at}.
	 */
	Appended toolCalls(String json, Instant now) {
		return output(EventType.TOOL_CALLS, StreamEvent.toolCallsData(json), now);
	}

	private synchronized Appended output(EventType type, String data, Instant now) {
		if (this.status != StreamStatus.IN_PROGRESS) {
			return Appended.DROPPED;
		}
		boolean first = this.firstTokenAt == null;
		if (first) {
			this.firstTokenAt = now.truncatedTo(ChronoUnit.MILLIS);
		}
		this.outputTokens++;
		StreamEvent output = this.log.append(type.wireName(), data);
		share(output, (first && this.shared.wantsViews()) ? this.encoder.status(viewLocked(output.id())) : null);
		return first ? Appended.FIRST : Appended.NEXT;
	}

	/** Nanoseconds from asking for a slot to now. */
	synchronized long sinceAsked(long now) {
		return now - this.askedNanos;
	}

	// --- ending

	/** What a terminal transition took from the stream; its caller releases it, once. */
	record Held(@Nullable Disposable generation, @Nullable Disposable acquisition, @Nullable Permit permit,
			@Nullable Disposable deadline, @Nullable Disposable timer, long createdNanos, long startedNanos) {

		/** Closes the upstream call first, then leaves the queue, then frees the slot. */
		void release() {
			dispose(this.generation);
			dispose(this.acquisition);
			if (this.permit != null) {
				this.permit.release();
			}
			dispose(this.deadline);
			dispose(this.timer);
		}

		private static void dispose(@Nullable Disposable disposable) {
			if (disposable != null) {
				disposable.dispose();
			}
		}

	}

	/** Which streams a guarded terminal transition may end. */
	enum Guard {

		/** Always. */
		NONE,
		/** Only while no listener is attached (disconnect grace). */
		UNATTENDED,
		/** Only if no listener ever attached (attach timeout). */
		NEVER_ATTACHED

	}

	/**
	 * The terminal transition: the first call wins and returns what the stream held; later calls,
	 * and calls whose guard does not hold, return null and change nothing.
	 */
	synchronized @Nullable Held end(FinishReason reason, StreamView.@Nullable ErrorView error, @Nullable Usage usage,
			Guard guard, Instant now) {
		if (terminal() || (guard == Guard.UNATTENDED && !this.listeners.isEmpty())
				|| (guard == Guard.NEVER_ATTACHED && this.everAttached)) {
			return null;
		}
		this.status = reason.status();
		this.finishReason = reason;
		this.endedAt = now.truncatedTo(ChronoUnit.MILLIS);
		this.endedNanos = System.nanoTime();
		if (reason.status() == StreamStatus.CANCELLED) {
			this.cancelledAt = this.endedAt;
		}
		this.error = error;
		this.queuePosition = null;
		if (usage != null) {
			if (usage.inputTokens() != null) {
				this.inputTokens = usage.inputTokens();
			}
			// The provider's count when it reported one, else the tokens the source counted.
			this.outputTokens = usage.outputTokens();
		}
		appendStatus(EventType.terminal(this.status));
		Held held = new Held(this.generation, this.acquisition, this.permit, this.deadline, this.timer,
				this.createdNanos, this.startedNanos);
		this.releasing = this.permit;
		this.generation = null;
		this.acquisition = null;
		this.permit = null;
		this.deadline = null;
		this.timer = null;
		return held;
	}

	/** The resources {@link #end} handed out have been let go. */
	synchronized void released() {
		this.releasing = null;
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
		if (this.timer != null && !terminal()) {
			this.timer.dispose();
			this.timer = null;
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
		if (this.timer != null) {
			this.timer.dispose();
		}
		this.timer = timer;
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
		return new SharedStreams.Snapshot(this.id, this.owner, this.createdAt,
				this.log.after(this.log.firstId() - 1, Integer.MAX_VALUE), this.encoder.status(viewLocked(this.log.lastId())),
				this.outputTokens, terminal());
	}

	/** What the leak auditor reads of a stream, taken under its monitor. */
	record Audit(StreamStatus status, @Nullable Permit permit, @Nullable Permit releasing, long startedNanos,
			long endedNanos, boolean everAttached, long unattendedSince, long createdNanos, List<Listener> listeners) {
	}

	synchronized Audit audit() {
		return new Audit(this.status, this.permit, this.releasing, this.startedNanos, this.endedNanos,
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
		if (this.published) {
			this.shared.appended(this.id, event, view, this.outputTokens);
		}
	}

	/** The status object; {@code lastEventId} is the newest event's id, or the one about to be appended. */
	private StreamView viewLocked(long lastEventId) {
		return new StreamView(this.id, "stream", this.status.wireName(), this.model, this.background,
				format(this.createdAt), format(this.startedAt), format(this.firstTokenAt), format(this.endedAt),
				format(this.cancelledAt), (this.finishReason != null) ? this.finishReason.wireName() : null,
				this.queuePosition, lastEventId, new StreamView.UsageView(this.inputTokens, this.outputTokens),
				this.error, this.metadata);
	}

	private static @Nullable String format(@Nullable Instant instant) {
		return (instant != null) ? TIMESTAMP.format(instant) : null;
	}

	/** Encodes event payloads as one line of JSON each. */
	interface EventEncoder {

		String status(StreamView view);

		String token(String text);

		String queued(int position);

	}

}
