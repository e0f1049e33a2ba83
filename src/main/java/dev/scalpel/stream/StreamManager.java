package dev.scalpel.stream;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import io.github.resilience4j.circuitbreaker.CallNotPermittedException;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.internal.ThreadExecutorMap;
import org.jspecify.annotations.Nullable;
import org.reactivestreams.Subscription;
import reactor.core.Disposable;
import reactor.core.publisher.BaseSubscriber;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.SignalType;
import reactor.core.scheduler.Scheduler;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.boot.availability.AvailabilityChangeEvent;
import org.springframework.boot.availability.ReadinessState;
import org.springframework.context.ApplicationEventPublisher;
import org.springframework.context.ApplicationEventPublisherAware;
import org.springframework.context.SmartLifecycle;

import dev.scalpel.system.LimitProperties;
import dev.scalpel.slot.Permit;
import dev.scalpel.slot.QueueFull;
import dev.scalpel.slot.QueueTimeout;
import dev.scalpel.slot.SlotPool;
import dev.scalpel.upstream.Chunk;
import dev.scalpel.upstream.GenerationRequest;
import dev.scalpel.upstream.IdleWatchdog;
import dev.scalpel.upstream.ModelRouter;
import dev.scalpel.upstream.TokenSource;
import dev.scalpel.upstream.UpstreamFailure;
import dev.scalpel.upstream.UpstreamProperties;
import dev.scalpel.upstream.Usage;

/**
 * Starts, attaches to, cancels and reports streams: the only place that changes a stream's state.
 *
 * <p>The design rule is "release at the event, never at the sweep": every path that ends a stream
 * (completion, failure, timeout, cancel, last listener gone, attach timeout, shutdown) goes through
 * {@link #end}, whose first caller wins the stream's compare-and-set and, in the same call, closes
 * the upstream call, leaves the queue and frees the slot. Listeners read the terminal event from
 * the log, so nothing waits on a reader that is gone.
 *
 * <p>On stop it refuses new starts, lets running streams go on for the drain timeout, then ends
 * the rest {@code cancelled/shutdown}.
 */
public final class StreamManager implements SmartLifecycle, ApplicationEventPublisherAware {

	private static final Log logger = LogFactory.getLog(StreamManager.class);

	private final SlotPool slots;

	private final ModelRouter router;

	private final StreamRegistry registry;

	private final StreamProperties properties;

	private final UpstreamProperties upstream;

	private final Duration retryAfter;

	private final StartRequestValidator validator;

	private final ManagedStream.EventEncoder encoder;

	private final Clock clock;

	private final Scheduler timers;

	private final StreamIds ids = new StreamIds();

	/** Held while a start takes its order and its creation time. */
	private final Object creation = new Object();

	/** The last start's place in the list; guarded by {@link #creation}. */
	private long order;

	private final StreamObserver observer;

	private final SharedStreams shared;

	private final Quotas quotas;

	/** Listeners attached right now. */
	private final AtomicInteger listeners = new AtomicInteger();

	/** Upstream calls open right now. */
	private final AtomicInteger upstreamCalls = new AtomicInteger();

	private volatile boolean accepting = true;

	private @Nullable ApplicationEventPublisher events;

	private volatile boolean running;

	StreamManager(SlotPool slots, ModelRouter router, StreamRegistry registry, StreamProperties properties,
			UpstreamProperties upstream, LimitProperties limits, String defaultModel, Duration retryAfter,
			JsonMapper json, Clock clock, Scheduler timers, StreamObserver observer, SharedStreams shared) {
		this.slots = slots;
		this.router = router;
		this.registry = registry;
		this.properties = properties;
		this.upstream = upstream;
		this.retryAfter = retryAfter;
		this.validator = new StartRequestValidator(limits, defaultModel);
		this.encoder = new JsonEventEncoder(json);
		this.clock = clock;
		this.timers = timers;
		this.observer = observer;
		this.shared = shared;
		this.quotas = new Quotas(retryAfter);
		// Another replica asked to cancel one of ours: as a cancel here.
		shared.onCancelRequest(id -> registry.find(id)
			.ifPresent(stream -> end(stream, FinishReason.CANCEL_REQUESTED, null, ManagedStream.Guard.NONE)));
		shared.onRewrite(() -> registry.all().stream().map(ManagedStream::snapshot).toList());
		shared.onLost(id -> registry.find(id)
			.ifPresent(stream -> end(stream, FinishReason.OWNER_LOST, error("owner_lost",
					"this replica lost its ownership of the stream (it could not reach Redis within its lease)"),
					ManagedStream.Guard.NONE)));
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
		StartRequestValidator.ValidStart valid = this.validator.validate(body);
		ModelRouter.Route route = this.router.route(valid.generation().model());
		if (!this.accepting) {
			throw new ShuttingDown();
		}
		if (!this.shared.available()) {
			throw new ClusterUnavailable();
		}
		if ((options.containsKey("tools") || options.containsKey("messages")) && !route.source().takesTools()) {
			throw InvalidRequest.invalid(options.containsKey("tools") ? "tools" : "messages",
					"tool calling is passed through to OpenAI-compatible endpoints only, and "
							+ valid.generation().model() + " is not served by one");
		}
		route.source().admit();
		// The key's quota last: a start refused for any other reason does not count against it.
		boolean counted = this.quotas.admit(caller);
		// The list is newest first by this order, and shows created_at: both are taken together, or two
		// starts on two event loops in the same millisecond could get them in opposite orders.
		long order;
		Instant created;
		synchronized (this.creation) {
			order = ++this.order;
			created = this.clock.instant();
		}
		ManagedStream stream = new ManagedStream(this.ids.next(), order,
				valid.generation().withModel(route.upstreamModel()).withOptions(options), valid.generation().model(),
				route.source(), valid.background(), valid.metadata(), caller.owner(), counted, created,
				this.properties.maxEvents(), this.encoder, this.shared);
		Acquisition acquisition = null;
		if (listen || valid.background()) {
			// Refused synchronously when the queue is full, before the stream is visible to anyone.
			try {
				acquisition = acquire(stream);
			}
			catch (RuntimeException ex) {
				if (counted) {
					this.quotas.release(caller.owner());
				}
				throw ex;
			}
		}
		stream.publish();
		Listener listener = null;
		if (listen) {
			listener = new Listener(stream, 0, this::left);
			stream.attach(listener, 0);
			attached(stream, listener);
		}
		else if (!valid.background()) {
			armTimer(stream, this.properties.attachTimeout(),
					() -> end(stream, FinishReason.NEVER_ATTACHED, null, ManagedStream.Guard.NEVER_ATTACHED));
		}
		this.registry.register(stream);
		this.observer.created(stream.id(), valid.generation().model(), valid.background());
		if (acquisition != null) {
			// Only now may a slot granted during the start begin the upstream call.
			acquisition.arm();
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
		ManagedStream stream = find(id);
		Listener listener = new Listener(stream, after, this::left);
		stream.attach(listener, after);
		if (!stream.background() && !stream.terminal() && !stream.acquiring()) {
			try {
				Acquisition acquisition = acquire(stream);
				if (acquisition != null) {
					acquisition.arm();
				}
			}
			catch (Overloaded ex) {
				// Undone without a trace: the stream keeps waiting for a listener, under its attach timeout.
				stream.detach(listener);
				throw ex;
			}
		}
		return attached(stream, listener);
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
		ManagedStream stream = find(id);
		end(stream, FinishReason.CANCEL_REQUESTED, null, ManagedStream.Guard.NONE);
		return stream.view();
	}

	/**
	 * Completes once other replicas can find this replica's stream (at once in memory mode). When the
	 * shared store does not confirm it in time, the start is answered {@code 503} and its client never
	 * learns the id: the stream ends at once, its slot and upstream call let go, rather than run to its
	 * end for nobody.
	 */
	public Mono<Void> shared(String id) {
		return this.shared.written(id).doOnError(ClusterUnavailable.class, unconfirmed -> this.registry.find(id)
			.ifPresent(stream -> end(stream, FinishReason.INTERNAL_ERROR,
					error("cluster_unavailable", "the shared store did not confirm the stream's creation in time; "
							+ "its start was answered 503"),
					ManagedStream.Guard.NONE)));
	}

	/**
	 * The status of a stream held here or, in redis mode, by another replica, for a caller who may see
	 * it (its owner or an administrator); to anyone else it does not exist.
	 */
	Mono<StreamView> statusAnywhere(String id, Caller caller) {
		Optional<ManagedStream> local = findHere(id, caller, false);
		return local.isPresent() ? Mono.just(local.get().view())
				: allowed(id, caller, false).then(this.shared.status(id)).switchIfEmpty(Mono.error(() -> new StreamNotFound(id)));
	}

	/**
	 * Cancels a stream held here (as {@link #cancel}) or, in redis mode, by another replica, whose owner
	 * does it; the status after.
	 */
	Mono<StreamView> cancelAnywhere(String id, Caller caller) {
		Optional<ManagedStream> local = findHere(id, caller, false);
		return local.isPresent() ? Mono.fromSupplier(() -> cancel(id))
				: allowed(id, caller, false).then(this.shared.cancel(id)).switchIfEmpty(Mono.error(() -> new StreamNotFound(id)));
	}

	/**
	 * The events of a stream held here (as {@link #attach}) or, in redis mode, by another replica:
	 * replayed after {@code after}, then live. Errors ({@code 404}, {@code 410}, {@code 429}) come
	 * before any event.
	 */
	Mono<Attached> eventsAnywhere(String id, long after, Caller caller) {
		if (after < 0) {
			throw InvalidRequest.invalid("after", "must not be negative");
		}
		Optional<ManagedStream> local = findHere(id, caller, true);
		if (local.isPresent()) {
			return Mono.fromSupplier(() -> {
				Listener listener = attach(id, after);
				return new Attached(listener.events(), listener.batches(), listener::abandon);
			});
		}
		return allowed(id, caller, true).then(Mono.defer(() -> this.shared.events(id, after)))
			.map(events -> new Attached(events, events.map(List::of), () -> {
			}));
	}

	/**
	 * A listener's events, and what to call if they will never be read (its answer was not written), so
	 * that it leaves at once rather than at the attach timeout.
	 */
	record Attached(Flux<StreamEvent> events, Flux<List<StreamEvent>> batches, Runnable abandon) {
	}

	/**
	 * Completes if the caller may attach to a stream held here or, in redis mode, by another replica
	 * (it owns it); {@link StreamNotFound} otherwise. For what an attach would do without attaching: an
	 * attach token, the headers of a {@code HEAD}.
	 */
	Mono<Void> readable(String id, Caller caller) {
		return findHere(id, caller, true).isPresent() ? Mono.empty() : allowed(id, caller, true);
	}

	/**
	 * This replica's stream, if it holds it and the caller may {@code read} (attach to) it or else see
	 * it; {@link StreamNotFound} when it holds it for another owner, or the id is malformed.
	 */
	private Optional<ManagedStream> findHere(String id, Caller caller, boolean read) {
		if (!StreamIds.wellFormed(id)) {
			throw new StreamNotFound(id);
		}
		Optional<ManagedStream> stream = this.registry.find(id);
		if (stream.isPresent() && !(read ? caller.mayRead(stream.get().owner()) : caller.mayManage(stream.get().owner()))) {
			throw new StreamNotFound(id);
		}
		return stream;
	}

	/** Completes when another replica's stream may be read or seen by the caller; else not found. */
	private Mono<Void> allowed(String id, Caller caller, boolean read) {
		return this.shared.owner(id)
			.filter(owner -> read ? caller.mayRead(owner) : caller.mayManage(owner))
			.switchIfEmpty(Mono.error(() -> new StreamNotFound(id)))
			.then();
	}

	/**
	 * Every replica's streams in redis mode, this one's in memory mode (as {@link #list}), of the
	 * caller's key, or of every key for an administrator.
	 */
	Mono<StreamPage> listAnywhere(@Nullable StreamStatus status, int limit, @Nullable String after, Caller caller) {
		String owner = caller.admin() ? null : caller.owner();
		return this.shared.list(status, limit, after, owner)
			.switchIfEmpty(Mono.fromSupplier(() -> list(status, limit, after, owner)));
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
		return this.quotas.live(owner);
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
		return this.listeners.get();
	}

	/** Upstream calls open right now. */
	public int upstreamCount() {
		return this.upstreamCalls.get();
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
				ManagedStream.Audit audit = stream.audit();
				StreamView view = stream.view();
				return new LiveStream(view.id(), stream.owner(), view.status(), view.model(), view.background(),
						Duration.ofNanos(now - audit.createdNanos()),
						(audit.permit() != null) ? Duration.ofNanos(now - audit.startedNanos()) : null,
						audit.listeners().size(), view.lastEventId());
			})
			.toList();
	}

	/** Something the leak auditor found and reclaimed. */
	public record Leak(String resource, @Nullable String streamId, String problem) {
	}

	/**
	 * Checks the invariants of ARCHITECTURE.md and reclaims what breaks them: a slot held by no
	 * in-progress stream, a stream in progress past the upstream max-duration, a non-background stream
	 * without listeners past its disconnect grace (or never attached past its attach timeout), a
	 * listener still attached to a terminal stream. Each limit is given {@code slack} on top, so that
	 * only what the normal release paths failed to release is found: every leak is a bug.
	 */
	public List<Leak> audit(Duration slack) {
		long now = System.nanoTime();
		long margin = slack.toNanos();
		List<Leak> leaks = new ArrayList<>();
		// Held permits first: one granted after this snapshot cannot be mistaken for an orphan.
		List<SlotPool.Held> held = this.slots.held();
		Set<Permit> owned = Collections.newSetFromMap(new IdentityHashMap<>());
		for (ManagedStream stream : this.registry.live()) {
			ManagedStream.Audit audit = stream.audit();
			if (audit.permit() != null) {
				owned.add(audit.permit());
			}
			// An ended stream's slot is freed after its upstream call is closed (see end): until then it is
			// still the stream's, for the slack. Found by the churn benchmark on a slow machine: an audit
			// that ran between a disconnect's end and its slot's release reclaimed a slot that was about to
			// be freed, and counted it as a leak.
			Permit releasing = audit.releasing();
			if (releasing != null && !releasing.released()) {
				if (now - audit.endedNanos() <= margin) {
					owned.add(releasing);
				}
				else {
					releasing.release();
					leaks.add(new Leak("slot", stream.id(), "slot not freed after the stream ended"));
				}
			}
			if (audit.status() == StreamStatus.IN_PROGRESS
					&& now - audit.startedNanos() > this.upstream.maxDuration().toNanos() + margin) {
				if (end(stream, FinishReason.TIMEOUT,
						error("timeout", "the generation ran longer than " + this.upstream.maxDuration()),
						ManagedStream.Guard.NONE)) {
					leaks.add(new Leak("stream", stream.id(), "in progress past the upstream max-duration"));
				}
			}
			else if (!stream.background() && !audit.status().terminal() && audit.listeners().isEmpty()) {
				// A listener dropped for falling behind gets the attach timeout rather than the grace.
				long unattendedLimit = Math.max(this.properties.disconnectGrace().toNanos(),
						this.properties.attachTimeout().toNanos());
				if (audit.everAttached() && audit.unattendedSince() != 0
						&& now - audit.unattendedSince() > unattendedLimit + margin) {
					if (end(stream, FinishReason.CLIENT_DISCONNECTED, null, ManagedStream.Guard.UNATTENDED)) {
						leaks.add(new Leak("stream", stream.id(), "no listener past the disconnect grace"));
					}
				}
				else if (!audit.everAttached()
						&& now - audit.createdNanos() > this.properties.attachTimeout().toNanos() + margin) {
					if (end(stream, FinishReason.NEVER_ATTACHED, null, ManagedStream.Guard.NEVER_ATTACHED)) {
						leaks.add(new Leak("stream", stream.id(), "never attached past the attach timeout"));
					}
				}
			}
		}
		for (ManagedStream stream : this.registry.all()) {
			ManagedStream.Audit audit = stream.audit();
			if (audit.status().terminal() && now - audit.endedNanos() > margin) {
				for (Listener listener : audit.listeners()) {
					// Aged from the end or from its own attach, whichever is later: a replay of a stream that
					// ended long ago is a reader at work, not a listener the end forgot.
					if (now - Math.max(audit.endedNanos(), listener.createdNanos()) > margin) {
						if (listener.waitingForReader()) {
							// It still waits for its client to read, past the slack: a stalled reader, not a leak
							// (the bench saw them on a client core overloaded for seconds). Dropped as one that fell
							// behind, so that it holds nothing longer; its client may resume.
							listener.dropBehind();
							logger.info("Listener of stream " + stream.id() + " dropped: its client stopped reading, "
									+ "and the stream ended more than " + slack.toMillis()
									+ " ms ago; it may resume with Last-Event-ID");
							continue;
						}
						listener.disconnect();
						leaks.add(new Leak("listener", stream.id(), "listener still attached after the terminal event"));
					}
				}
			}
		}
		for (SlotPool.Held permit : held) {
			if (!owned.contains(permit.permit()) && !permit.permit().released() && now - permit.grantedAt() > margin) {
				permit.permit().release();
				leaks.add(new Leak("slot", null, "slot held by no in-progress stream"));
			}
		}
		return leaks;
	}

	private ManagedStream find(String id) {
		if (!StreamIds.wellFormed(id)) {
			throw new StreamNotFound(id);
		}
		return this.registry.find(id).orElseThrow(() -> new StreamNotFound(id));
	}

	// --- the lifecycle

	private Listener attached(ManagedStream stream, Listener listener) {
		stream.attached();
		this.listeners.incrementAndGet();
		listener.expireUnlessConnected(schedule(this.properties.attachTimeout(), listener::abandon));
		return listener;
	}

	/**
	 * Asks for a slot; {@link Overloaded} when the queue is full. A slot granted at once is held back
	 * until the returned acquisition is {@linkplain Acquisition#arm() armed}; null when the stream was
	 * already acquiring or terminal.
	 */
	private @Nullable Acquisition acquire(ManagedStream stream) {
		Acquisition acquisition = new Acquisition(stream);
		if (!stream.beginAcquiring(acquisition)) {
			return null;
		}
		this.slots.acquire(position -> {
			if (stream.queued(position)) {
				stream.signal();
			}
		}).subscribe(acquisition);
		if (acquisition.refused) {
			stream.abandonAcquiring(acquisition);
			throw new Overloaded(this.slots.capacity(), this.slots.queueMax(), this.retryAfter);
		}
		return acquisition;
	}

	private void granted(ManagedStream stream, Permit permit) {
		Generation generation = new Generation(stream);
		Disposable deadline = schedule(this.upstream.maxDuration(), () -> end(stream, FinishReason.TIMEOUT,
				error("timeout", "the generation ran longer than " + this.upstream.maxDuration()),
				ManagedStream.Guard.NONE));
		// Read before the start: a stream that ended may be compacted (its request let go) at any time,
		// but one that starts below had not ended, so it still had its request here.
		GenerationRequest request = stream.request();
		if (request == null || !stream.start(permit, generation, deadline, this.clock.instant(),
				stream.source().promptTokens(request))) {
			// Ended while the permit was on its way: give it back, start nothing.
			deadline.dispose();
			permit.release();
			return;
		}
		stream.signal();
		this.observer.started(stream.id(), Duration.ofNanos(stream.sinceAsked(System.nanoTime())));
		EventExecutor loop = ThreadExecutorMap.currentExecutor();
		if (loop == null) {
			call(stream, request, generation);
			return;
		}
		// On an event loop (a start, or a slot freed by a stream that ended there), the call is made
		// one loop task later. A request and its client's close are often read in the same turn of the
		// loop (a client that gave up while its request waited to be read): Netty hands the request to
		// the handler, which started the stream and got here, before it handles the end of input, and
		// the call went out for nobody (in the churn benchmark, 5,480 of 40,000 streams made their call
		// after their client had left; 3,424 with this, each closed at once). The loop runs its tasks
		// after the I/O events of the turn, so by then that disconnect has ended the stream and disposed
		// its generation, and no request is sent. Netty's epoll transport reads such a close in the same
		// turn; its NIO transport a turn later, where this changes nothing. Written by hand: no Reactor
		// operator defers a subscription by one task of the current event loop, and Netty's
		// ThreadExecutorMap (in its internal package) is the one way to find that loop from here.
		try {
			loop.execute(() -> call(stream, request, generation));
		}
		catch (RejectedExecutionException shuttingDown) {
			call(stream, request, generation);
		}
	}

	/** Makes the upstream call of a started stream, unless the stream ended since. */
	private void call(ManagedStream stream, GenerationRequest request, Generation generation) {
		if (generation.isDisposed()) {
			// Ended since it started: its slot is back and nobody waits for this call.
			return;
		}
		// If the stream ends before the subscription below, the disposed subscriber cancels the
		// upstream call as soon as it is subscribed.
		TokenSource source = stream.source();
		// Re-armed by every chunk without a schedule and a cancel on the timers per token.
		IdleWatchdog idle = new IdleWatchdog(this.upstream.idleTimeout(), this.timers);
		source.guard(source.generate(request)
			.timeout(Mono.delay(this.upstream.firstTokenTimeout(), this.timers), chunk -> idle.arm())
			.doFinally(signal -> idle.dispose()))
			.subscribe(generation);
	}

	private void left(Listener listener) {
		ManagedStream stream = listener.stream();
		if (listener.fellBehind()) {
			this.observer.listenerDropped(stream.id());
		}
		int remaining = stream.detach(listener);
		if (remaining >= 0) {
			this.listeners.decrementAndGet();
		}
		if (remaining != 0 || stream.background() || stream.terminal()) {
			return;
		}
		Duration grace = this.properties.disconnectGrace();
		if (listener.fellBehind() && grace.compareTo(this.properties.attachTimeout()) < 0) {
			// Dropped by us, not gone: its client may resume, so the stream waits for a listener as long
			// as a stream started without one does, and only then counts as abandoned.
			grace = this.properties.attachTimeout();
		}
		if (grace.isZero()) {
			end(stream, FinishReason.CLIENT_DISCONNECTED, null, ManagedStream.Guard.UNATTENDED);
		}
		else {
			armTimer(stream, grace,
					() -> end(stream, FinishReason.CLIENT_DISCONNECTED, null, ManagedStream.Guard.UNATTENDED));
		}
	}

	/**
	 * The one way a stream ends. Returns whether this call ended it; when it returns true, the
	 * upstream call is closed, the queue place is left and the slot is free.
	 */
	private boolean end(ManagedStream stream, FinishReason reason, StreamView.@Nullable ErrorView error,
			ManagedStream.Guard guard) {
		return end(stream, reason, error, null, guard);
	}

	private boolean end(ManagedStream stream, FinishReason reason, StreamView.@Nullable ErrorView error,
			@Nullable Usage usage, ManagedStream.Guard guard) {
		// The trigger: the cancel call, the detected disconnect, the last token, the error, the timer.
		long triggered = System.nanoTime();
		ManagedStream.Held held = stream.end(reason, error, usage, guard, this.clock.instant());
		if (held == null) {
			return false;
		}
		held.release();
		stream.released();
		long released = System.nanoTime();
		if (stream.quotaCounted()) {
			this.quotas.release(stream.owner());
		}
		this.registry.retire(stream);
		stream.signal();
		this.observer.ended(stream.id(), reason, Duration.ofNanos(released - held.createdNanos()),
				(held.startedNanos() != 0) ? Duration.ofNanos(released - held.startedNanos()) : null,
				(held.permit() != null) ? Duration.ofNanos(released - triggered) : null);
		return true;
	}

	private void armTimer(ManagedStream stream, Duration delay, Runnable action) {
		Disposable timer = schedule(delay, action);
		if (!stream.arm(timer)) {
			timer.dispose();
		}
	}

	private Disposable schedule(Duration delay, Runnable action) {
		return this.timers.schedule(action, delay.toNanos(), TimeUnit.NANOSECONDS);
	}

	private static StreamView.ErrorView error(String type, String message) {
		return new StreamView.ErrorView(type, message);
	}

	/** Waits for a slot on behalf of one stream. */
	private final class Acquisition extends BaseSubscriber<Permit> {

		private final ManagedStream stream;

		/** Set synchronously during subscription when the queue was full. */
		boolean refused;

		/** Whether a granted slot may start the upstream call; guarded by this. */
		private boolean armed;

		/** A slot granted before arming; guarded by this. */
		private @Nullable Permit early;

		Acquisition(ManagedStream stream) {
			this.stream = stream;
		}

		/** Lets the slot start the upstream call, now if it was granted already. */
		void arm() {
			Permit permit;
			synchronized (this) {
				this.armed = true;
				permit = this.early;
				this.early = null;
			}
			if (permit != null) {
				granted(this.stream, permit);
			}
		}

		@Override
		protected void hookOnNext(Permit permit) {
			synchronized (this) {
				if (!this.armed) {
					this.early = permit;
					return;
				}
			}
			granted(this.stream, permit);
		}

		@Override
		protected void hookOnCancel() {
			// The stream ended before it was armed: the early slot goes back.
			Permit permit;
			synchronized (this) {
				permit = this.early;
				this.early = null;
			}
			if (permit != null) {
				permit.release();
			}
		}

		@Override
		protected void hookOnError(Throwable failure) {
			if (failure instanceof QueueFull) {
				this.refused = true;
			}
			else if (failure instanceof QueueTimeout) {
				end(this.stream, FinishReason.QUEUE_TIMEOUT, error("queue_timeout", String.valueOf(failure.getMessage())),
						ManagedStream.Guard.NONE);
			}
			else {
				logger.error("Stream " + this.stream.id() + " failed while waiting for a slot", failure);
				end(this.stream, FinishReason.INTERNAL_ERROR, error("internal_error", "waiting for a slot failed"),
						ManagedStream.Guard.NONE);
			}
		}

	}

	/** Reads one upstream generation into its stream. */
	private final class Generation extends BaseSubscriber<Chunk> {

		private final ManagedStream stream;

		Generation(ManagedStream stream) {
			this.stream = stream;
		}

		/** 0 before the call, 1 while it is open, 2 after: counts each call in and out exactly once. */
		private final AtomicInteger state = new AtomicInteger();

		@Override
		protected void hookOnSubscribe(Subscription subscription) {
			if (this.state.compareAndSet(0, 1)) {
				StreamManager.this.upstreamCalls.incrementAndGet();
			}
			// Unbounded: listeners read from the log at their own pace, the model is never slowed.
			subscription.request(Long.MAX_VALUE);
		}

		@Override
		protected void hookFinally(SignalType type) {
			if (this.state.getAndSet(2) == 1) {
				StreamManager.this.upstreamCalls.decrementAndGet();
			}
		}

		@Override
		protected void hookOnNext(Chunk chunk) {
			if (chunk instanceof Chunk.Token token) {
				appended(this.stream.token(token.text(), StreamManager.this.clock.instant()));
			}
			else if (chunk instanceof Chunk.ToolCalls calls) {
				if (!calls.text().isEmpty()) {
					appended(this.stream.token(calls.text(), StreamManager.this.clock.instant()));
				}
				appended(this.stream.toolCalls(calls.json(), StreamManager.this.clock.instant()));
			}
			else if (chunk instanceof Chunk.Finished finished) {
				FinishReason reason = switch (finished.reason()) {
					case "length" -> FinishReason.LENGTH;
					case "tool_calls" -> FinishReason.TOOL_CALLS;
					case "content_filter" -> FinishReason.CONTENT_FILTER;
					default -> FinishReason.STOP;
				};
				end(this.stream, reason, null, finished.usage(), ManagedStream.Guard.NONE);
			}
		}

		@Override
		protected void hookOnError(Throwable failure) {
			if (failure instanceof TimeoutException) {
				String message = this.stream.hasFirstToken()
						? "no token for " + StreamManager.this.upstream.idleTimeout()
						: "no first token within " + StreamManager.this.upstream.firstTokenTimeout();
				end(this.stream, FinishReason.TIMEOUT, error("timeout", message), ManagedStream.Guard.NONE);
			}
			else if (failure instanceof UpstreamFailure upstream
					&& upstream.kind() == UpstreamFailure.Kind.CONNECT_TIMEOUT) {
				failed(upstream);
				end(this.stream, FinishReason.TIMEOUT, new StreamView.ErrorView("timeout", upstream.getMessage(),
						upstream.endpoint(), null, null), ManagedStream.Guard.NONE);
			}
			else if (failure instanceof UpstreamFailure upstream) {
				failed(upstream);
				end(this.stream, FinishReason.UPSTREAM_ERROR, new StreamView.ErrorView("upstream_error",
						upstream.getMessage(), upstream.endpoint(), upstream.status(), upstream.providerType()),
						ManagedStream.Guard.NONE);
			}
			else if (failure instanceof CallNotPermittedException) {
				end(this.stream, FinishReason.UPSTREAM_ERROR, new StreamView.ErrorView("upstream_error",
						"the endpoint's circuit breaker is open", this.stream.source().name(), null, null),
						ManagedStream.Guard.NONE);
			}
			else {
				logger.warn("Stream " + this.stream.id() + ": upstream call failed", failure);
				end(this.stream, FinishReason.UPSTREAM_ERROR, error("upstream_error", "the upstream call failed"),
						ManagedStream.Guard.NONE);
			}
		}

		/**
		 * One line per failed call, without a stack trace: the failure's message already says what happened
		 * (and is the one the stream's status shows). A request the provider judged wrong is the caller's
		 * business, at INFO; anything that says something about the provider, at WARN.
		 */
		private void failed(UpstreamFailure upstream) {
			String line = "Stream " + this.stream.id() + ": upstream call to " + upstream.endpoint() + " failed: "
					+ upstream.getMessage();
			if (upstream.countsAsFailure()) {
				logger.warn(line);
			}
			else {
				logger.info(line);
			}
		}

		private void appended(ManagedStream.Appended appended) {
			if (appended != ManagedStream.Appended.DROPPED) {
				this.stream.signalSoon();
				StreamManager.this.observer.token();
				if (appended == ManagedStream.Appended.FIRST) {
					StreamManager.this.observer.firstToken(this.stream.id(),
							Duration.ofNanos(this.stream.sinceAsked(System.nanoTime())));
				}
			}
		}

		@Override
		protected void hookOnComplete() {
			// A normal end arrives as a Finished chunk and has already ended the stream: this is a no-op then.
			end(this.stream, FinishReason.UPSTREAM_ERROR,
					error("upstream_error", "the upstream stream ended without finishing"), ManagedStream.Guard.NONE);
		}

	}

	/** Event payloads as one line of JSON, encoded once per event. */
	private static final class JsonEventEncoder implements ManagedStream.EventEncoder {

		private final JsonMapper json;

		JsonEventEncoder(JsonMapper json) {
			this.json = json;
		}

		@Override
		public String status(StreamView view) {
			return this.json.writeValueAsString(view);
		}

		@Override
		public String token(String text) {
			return StreamEvent.tokenData(text);
		}

		@Override
		public String queued(int position) {
			return "{\"queue_position\":" + position + "}";
		}

	}

	// --- graceful stop

	@Override
	public void start() {
		this.accepting = true;
		this.running = true;
	}

	/** Stops without draining: refuses new starts and ends every live stream with {@code shutdown}. */
	@Override
	public void stop() {
		this.accepting = false;
		endAll(FinishReason.SHUTDOWN);
		this.running = false;
	}

	/**
	 * Refuses new starts, waits up to the drain timeout for live streams to end, then cancels the
	 * rest with {@code shutdown}, whose terminal events reach their listeners before the web server's
	 * own graceful shutdown (a later phase) waits for those responses to finish.
	 */
	@Override
	public void stop(Runnable callback) {
		this.accepting = false;
		if (this.events != null) {
			// Readiness goes out of service for as long as the drain lasts.
			AvailabilityChangeEvent.publish(this.events, this, ReadinessState.REFUSING_TRAFFIC);
		}
		Flux.interval(Duration.ZERO, Duration.ofMillis(20), this.timers)
			.filter(tick -> this.registry.live().isEmpty())
			.next()
			.timeout(this.properties.drainTimeout(), this.timers)
			.onErrorResume(TimeoutException.class, timeout -> Mono.empty())
			.doFinally(signal -> {
				endAll(FinishReason.SHUTDOWN);
				this.running = false;
				callback.run();
			})
			.subscribe();
	}

	private void endAll(FinishReason reason) {
		for (ManagedStream stream : this.registry.live()) {
			end(stream, reason, null, ManagedStream.Guard.NONE);
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
		return this.accepting;
	}

}
