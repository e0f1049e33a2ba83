package dev.scalpel.stream;

import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeoutException;

import org.jspecify.annotations.Nullable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Scheduler;

import org.springframework.boot.availability.AvailabilityChangeEvent;
import org.springframework.boot.availability.ReadinessState;
import org.springframework.context.ApplicationEventPublisher;
import org.springframework.context.ApplicationEventPublisherAware;
import org.springframework.context.SmartLifecycle;

/**
 * This replica's streams: starts, attaches to, cancels, reports and lists them, and drains them on
 * stop. A facade over the jobs of the stream core: {@link Admission} takes a start,
 * {@link SlotAcquisition} waits for its slot, {@link UpstreamCall} makes its call, and
 * {@link StreamLifecycle} ends it, the one way a stream ends ("release at the event, never at the
 * sweep"). {@link StreamDirectory} finds streams of other replicas too; {@link LeakAudit} is the alarm.
 *
 * <p>On stop it refuses new starts, lets running streams go on for the drain timeout, then ends
 * the rest {@code cancelled/shutdown}.
 */
public final class StreamManager implements SmartLifecycle, ApplicationEventPublisherAware {

	private final Admission admission;

	private final SlotAcquisition slots;

	private final StreamLifecycle lifecycle;

	private final UpstreamCall upstream;

	private final LeakAudit audit;

	private final StreamRegistry registry;

	private final SharedStreams shared;

	private final Duration drainTimeout;

	private final Scheduler timers;

	private @Nullable ApplicationEventPublisher events;

	private volatile boolean running;

	StreamManager(Admission admission, SlotAcquisition slots, StreamLifecycle lifecycle, UpstreamCall upstream,
			LeakAudit audit, StreamRegistry registry, SharedStreams shared, Duration drainTimeout, Scheduler timers) {
		this.admission = admission;
		this.slots = slots;
		this.lifecycle = lifecycle;
		this.upstream = upstream;
		this.audit = audit;
		this.registry = registry;
		this.shared = shared;
		this.drainTimeout = drainTimeout;
		this.timers = timers;
		// Another replica asked to cancel one of ours: as a cancel here.
		shared.onCancelRequest(id -> registry.find(id)
			.ifPresent(stream -> lifecycle.end(stream, Ending.of(FinishReason.CANCEL_REQUESTED), Guard.NONE)));
		shared.onRewrite(() -> registry.all().stream().map(ManagedStream::snapshot).toList());
		shared.onLost(id -> registry.find(id)
			.ifPresent(stream -> lifecycle.end(stream, Ending.failed(FinishReason.OWNER_LOST,
					"this replica lost its ownership of the stream (it could not reach Redis within its lease)"),
					Guard.NONE)));
	}

	/** A stream that was just started, with its first listener when the start asked for one. */
	record Started(StreamView view, @Nullable Listener listener) {
	}

	/**
	 * Validates and starts a stream. With {@code listen}, the caller becomes its first listener and
	 * the stream asks for a slot at once; without, a non-background stream waits for a listener.
	 * A refused start ({@code 400}, {@code 404}, {@code 413}, {@code 429}, {@code 503}) creates nothing.
	 */
	Started start(StartStreamRequest body, boolean listen) {
		return start(Caller.OPEN, body, listen);
	}

	/** As {@link #start(StartStreamRequest, boolean)}, for a caller, who owns the stream. */
	Started start(Caller caller, StartStreamRequest body, boolean listen) {
		return start(caller, body, listen, Map.of());
	}

	/**
	 * A stream started for a caller that reads it at once: its status and its events (one by one, or in
	 * batches for a writer; subscribe to one of the two, once), and what to call when its answer will
	 * never be written (it failed, or its client left first), so that the first listener leaves at once
	 * rather than at the attach timeout.
	 */
	public record Opened(StreamView view, Flux<StreamEvent> events, Flux<List<StreamEvent>> batches,
			Runnable abandon) {
	}

	/**
	 * Starts a stream whose caller is its first listener, for another front door than the native API
	 * (the OpenAI-compatible one): as {@code POST /v1/streams} with {@code Accept: text/event-stream},
	 * with provider {@code options} besides. The events end after the terminal one; cancelling their
	 * subscription is the listener leaving (a disconnect).
	 */
	public Opened open(Caller caller, StartStreamRequest body, Map<String, Object> options) {
		Started started = start(caller, body, true, options);
		Listener listener = Objects.requireNonNull(started.listener());
		return new Opened(started.view(), listener.events(), listener.batches(), listener::abandon);
	}

	private Started start(Caller caller, StartStreamRequest body, boolean listen, Map<String, Object> options) {
		ManagedStream stream = this.admission.admit(caller, body, options);
		SlotAcquisition.Wait wait = null;
		if (listen || stream.background()) {
			// Refused synchronously when the queue is full, before the stream is visible to anyone.
			try {
				wait = this.slots.acquire(stream);
			}
			catch (RuntimeException ex) {
				this.admission.withdraw(stream);
				throw ex;
			}
		}
		stream.publish();
		Listener listener = null;
		if (listen) {
			listener = this.lifecycle.listener(stream, 0);
			stream.attach(listener, 0);
			this.lifecycle.attached(stream, listener);
		}
		else if (!stream.background()) {
			this.lifecycle.awaitListener(stream);
		}
		this.registry.register(stream);
		this.lifecycle.created(stream);
		if (wait != null) {
			// Only now may a slot granted during the start begin the upstream call.
			wait.arm();
		}
		return new Started(stream.view(), listener);
	}

	/**
	 * Attaches a listener that replays the events after {@code after} and then follows live. The first
	 * listener of a stream started without one makes it ask for a slot ({@code 429} if the queue is
	 * full, in which case the listener is not attached and the stream keeps waiting).
	 */
	Listener attach(String id, long after) {
		if (after < 0) {
			throw InvalidRequest.invalid("after", "must not be negative");
		}
		return attach(find(id), after);
	}

	/** As {@link #attach(String, long)}, to a stream found already, {@code after} checked already. */
	Listener attach(ManagedStream stream, long after) {
		Listener listener = this.lifecycle.listener(stream, after);
		stream.attach(listener, after);
		if (!stream.background() && !stream.terminal() && !stream.acquiring()) {
			try {
				SlotAcquisition.Wait wait = this.slots.acquire(stream);
				if (wait != null) {
					wait.arm();
				}
			}
			catch (Overloaded ex) {
				// Undone without a trace: the stream keeps waiting for a listener, under its attach timeout.
				stream.detach(listener);
				throw ex;
			}
		}
		return this.lifecycle.attached(stream, listener);
	}

	/** The status object of a live or retained stream. */
	public StreamView status(String id) {
		return find(id).view();
	}

	/**
	 * Cancels a stream. When this returns, a live stream is {@code cancelled/cancel_requested}, its
	 * slot is free, its upstream call is closed and its terminal event is in the log for every
	 * listener. A terminal stream is returned unchanged.
	 */
	public StreamView cancel(String id) {
		return cancel(find(id));
	}

	/** As {@link #cancel(String)}, for a stream found already. */
	StreamView cancel(ManagedStream stream) {
		return this.lifecycle.cancel(stream);
	}

	/**
	 * Completes once other replicas can find this replica's stream (at once in memory mode). When the
	 * shared store does not confirm it in time, the start is answered {@code 503} and its client never
	 * learns the id: the stream ends at once, its slot and upstream call let go, rather than run to its
	 * end for nobody.
	 */
	public Mono<Void> shared(String id) {
		return this.shared.written(id).doOnError(ClusterUnavailable.class, unconfirmed -> this.registry.find(id)
			.ifPresent(stream -> this.lifecycle.end(stream, new Ending(FinishReason.INTERNAL_ERROR,
					new StreamView.ErrorView("cluster_unavailable", "the shared store did not confirm the stream's "
							+ "creation in time; its start was answered 503"), null),
					Guard.NONE)));
	}

	/** Streams newest first, optionally of one status and one owner, after a cursor stream. */
	StreamPage list(@Nullable StreamStatus status, int limit, @Nullable String after, @Nullable String owner) {
		long before = Long.MAX_VALUE;
		if (after != null) {
			before = this.registry.find(after)
				.filter(stream -> owner == null || owner.equals(stream.owner()))
				.map(ManagedStream::order)
				.orElseThrow(() -> InvalidRequest.invalid("after", "names no stream that is still retained"));
		}
		long cursor = before;
		List<ManagedStream> page = this.registry.all()
			.stream()
			.filter(stream -> stream.order() < cursor)
			.filter(stream -> owner == null || owner.equals(stream.owner()))
			.filter(stream -> status == null || stream.status() == status)
			.sorted(Comparator.comparingLong(ManagedStream::order).reversed())
			.limit(limit + 1L)
			.toList();
		boolean more = page.size() > limit;
		return StreamPage.of(page.stream().limit(limit).map(ManagedStream::view).toList(), more);
	}

	/** Streams not yet terminal. */
	public int liveCount() {
		return this.registry.live().size();
	}

	/** Streams of {@code owner} counted against its quota of streams at once (those with a quota). */
	int quotaLive(String owner) {
		return this.admission.quotaLive(owner);
	}

	/** About how many bytes of heap ended streams keep with their events (an estimate). */
	public long retainedBytes() {
		return this.registry.retainedBytes()[0];
	}

	/** About how many bytes of heap ended streams compacted to their status keep (an estimate). */
	public long compactedBytes() {
		return this.registry.retainedBytes()[1];
	}

	/** Listeners attached right now. */
	public int listenerCount() {
		return this.lifecycle.listenerCount();
	}

	/** Upstream calls open right now. */
	public int upstreamCount() {
		return this.upstream.openCount();
	}

	/** A live stream as an operator sees it. */
	public record LiveStream(String id, String owner, String status, String model, boolean background, Duration age,
			@Nullable Duration slotHeldFor, int listeners, long lastEventId) {
	}

	/** The live streams, oldest first. */
	public List<LiveStream> live() {
		long now = System.nanoTime();
		return this.registry.live()
			.stream()
			.sorted(Comparator.comparingLong(ManagedStream::order))
			.map(stream -> {
				AuditSnapshot audit = stream.audit();
				StreamView view = stream.view();
				return new LiveStream(view.id(), stream.owner(), view.status(), view.model(), view.background(),
						Duration.ofNanos(now - audit.createdNanos()),
						(audit.permit() != null) ? Duration.ofNanos(now - audit.startedNanos()) : null,
						audit.listeners().size(), view.lastEventId());
			})
			.toList();
	}

	/** The leak audit ({@link LeakAudit#audit}), for the leak auditor. */
	public List<LeakAudit.Leak> audit(Duration slack) {
		return this.audit.audit(slack);
	}

	private ManagedStream find(String id) {
		if (!StreamIds.wellFormed(id)) {
			throw new StreamNotFound(id);
		}
		return this.registry.find(id).orElseThrow(() -> new StreamNotFound(id));
	}

	// --- graceful stop

	@Override
	public void start() {
		this.admission.accepting(true);
		this.running = true;
	}

	/** Stops without draining: refuses new starts and ends every live stream with {@code shutdown}. */
	@Override
	public void stop() {
		this.admission.accepting(false);
		endAll();
		this.running = false;
	}

	/**
	 * Refuses new starts, waits up to the drain timeout for live streams to end, then cancels the
	 * rest with {@code shutdown}, whose terminal events reach their listeners before the web server's
	 * own graceful shutdown (a later phase) waits for those responses to finish.
	 */
	@Override
	public void stop(Runnable callback) {
		this.admission.accepting(false);
		if (this.events != null) {
			// Readiness goes out of service for as long as the drain lasts.
			AvailabilityChangeEvent.publish(this.events, this, ReadinessState.REFUSING_TRAFFIC);
		}
		Flux.interval(Duration.ZERO, Duration.ofMillis(20), this.timers)
			.filter(tick -> this.registry.live().isEmpty())
			.next()
			.timeout(this.drainTimeout, this.timers)
			.onErrorResume(TimeoutException.class, timeout -> Mono.empty())
			.doFinally(signal -> {
				endAll();
				this.running = false;
				callback.run();
			})
			.subscribe();
	}

	private void endAll() {
		for (ManagedStream stream : this.registry.live()) {
			this.lifecycle.end(stream, Ending.of(FinishReason.SHUTDOWN), Guard.NONE);
		}
	}

	@Override
	public void setApplicationEventPublisher(ApplicationEventPublisher events) {
		this.events = events;
	}

	@Override
	public boolean isRunning() {
		return this.running;
	}

	/** Stops before the web server (a lower phase) so that drained responses can still finish. */
	@Override
	public int getPhase() {
		return SmartLifecycle.DEFAULT_PHASE;
	}

	/** Whether new starts are taken; false while draining. */
	boolean accepting() {
		return this.admission.accepting();
	}

}
