package dev.scalpel.stream;

import java.time.Clock;
import java.time.Instant;
import java.util.Map;

import dev.scalpel.upstream.ModelRouter;

/**
 * Decides whether a start is taken, and creates its stream when it is: the request is validated and
 * routed, then refused while the service drains or the shared store is unreachable, then checked
 * against its route and its provider's capacity, and last counted against its key's quota. A start
 * refused at any step ({@code 400}, {@code 404}, {@code 413}, {@code 429}, {@code 503}) creates nothing.
 */
final class Admission {

	private final StartRequestValidator validator;

	private final ModelRouter router;

	private final SharedStreams shared;

	private final Quotas quotas;

	private final EventEncoder encoder;

	private final Clock clock;

	private final int maxEvents;

	private final StreamIds ids = new StreamIds();

	/** Held while a start takes its order and its creation time. */
	private final Object creation = new Object();

	/** The last start's place in the list; guarded by {@link #creation}. */
	private long order;

	private volatile boolean accepting = true;

	Admission(StartRequestValidator validator, ModelRouter router, SharedStreams shared, Quotas quotas,
			EventEncoder encoder, Clock clock, int maxEvents) {
		this.validator = validator;
		this.router = router;
		this.shared = shared;
		this.quotas = quotas;
		this.encoder = encoder;
		this.clock = clock;
		this.maxEvents = maxEvents;
	}

	/** A stream admitted for {@code caller}, not yet published or registered. */
	ManagedStream admit(Caller caller, StartStreamRequest body, Map<String, Object> options) {
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
		return new ManagedStream(this.ids.next(), order,
				valid.generation().withModel(route.upstreamModel()).withOptions(options), valid.generation().model(),
				route.source(), valid.background(), valid.metadata(), caller.owner(), counted, created, this.maxEvents,
				this.encoder, this.shared);
	}

	/** An admitted stream was refused after all (its queue was full): its quota place goes back. */
	void withdraw(ManagedStream stream) {
		if (stream.quotaCounted()) {
			this.quotas.release(stream.owner());
		}
	}

	/** Streams of {@code owner} counted against its quota of streams at once. */
	int quotaLive(String owner) {
		return this.quotas.live(owner);
	}

	/** Whether new starts are taken; false while draining. */
	boolean accepting() {
		return this.accepting;
	}

	/** Takes new starts again, or refuses them from now on ({@link ShuttingDown}). */
	void accepting(boolean accepting) {
		this.accepting = accepting;
	}

}
