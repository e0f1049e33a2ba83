package dev.scalpel.stream;

import java.time.Instant;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Supplier;

import org.jspecify.annotations.Nullable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * What the replicas of a deployment share of their streams. A stream lives on the replica that
 * started it (its owner: the slot, the upstream call, the event log); this seam publishes what the
 * owner appends and lets any other replica read a stream's status, follow its events and cancel it.
 * In memory mode ({@link #NONE}) nothing is shared and a stream is known to its own replica only; the
 * manager's logic is the same in both modes.
 */
public interface SharedStreams {

	/** Memory mode: one replica, nothing shared. */
	SharedStreams NONE = new SharedStreams() {
	};

	/** Whether this replica may start streams now (redis mode: false while Redis is unreachable). */
	default boolean available() {
		return true;
	}

	/**
	 * A stream this replica is creating, before its first event: who owns it (the API key's name) and
	 * when it was created. Under the stream's lock: must not block.
	 */
	default void created(String streamId, String owner, Instant createdAt) {
	}

	/**
	 * An event this replica appended to one of its streams, in order per stream, under the stream's
	 * lock: must not block.
	 * @param streamId the stream
	 * @param event the event
	 * @param view the status object as JSON when it changed with this event (every event but a token
	 * or tool-calls piece after the first), else null
	 * @param outputTokens output tokens so far
	 */
	default void appended(String streamId, StreamEvent event, @Nullable String view, int outputTokens) {
	}

	/**
	 * Completes once the creation of this replica's stream is in the shared store, so that other
	 * replicas find it (at once when nothing is shared, or when it is already known to be there).
	 */
	default Mono<Void> written(String streamId) {
		return Mono.empty();
	}

	/** Whether {@link #appended} wants the status JSON of the first token (costs an encoding). */
	default boolean wantsViews() {
		return false;
	}

	/** The status of a stream this replica does not hold; empty when no replica knows it. */
	default Mono<StreamView> status(String id) {
		return Mono.empty();
	}

	/**
	 * Cancels a stream this replica does not hold: its owner is told and does it; if the owner is gone,
	 * the shared state is set here. The status after; empty when no replica knows the stream.
	 */
	default Mono<StreamView> cancel(String id) {
		return Mono.empty();
	}

	/**
	 * The events after {@code after} of a stream this replica does not hold, then live ones, ending
	 * after the terminal event. The outer Mono fails with {@link StreamNotFound} or
	 * {@link EventsExpired} before any event.
	 */
	default Mono<Flux<StreamEvent>> events(String id, long after) {
		return Mono.error(new StreamNotFound(id));
	}

	/** The owner (API key name) of a stream this replica does not hold; empty when no replica knows it. */
	default Mono<String> owner(String id) {
		return Mono.empty();
	}

	/**
	 * A page of every replica's streams, newest first, optionally of one status and one owner (null:
	 * every owner's), after a cursor stream; empty when nothing is shared (the manager then lists its
	 * own).
	 */
	default Mono<StreamPage> list(@Nullable StreamStatus status, int limit, @Nullable String after,
			@Nullable String owner) {
		return Mono.empty();
	}

	/** Where cancels that other replicas ask for this replica's streams are carried out. */
	default void onCancelRequest(Consumer<String> cancel) {
	}

	/**
	 * Where this replica learns that streams it still runs were ended by another replica meanwhile
	 * ({@code owner_lost}: this replica could not renew its lease in time); it ends them the same way.
	 */
	default void onLost(Consumer<String> lost) {
	}

	/**
	 * Where the shared store gets what this replica holds when it has to be written again (a Redis that
	 * restarted empty): every stream this replica has, live or retained.
	 */
	default void onRewrite(Supplier<List<Snapshot>> streams) {
	}

	/**
	 * A stream as its owner holds it.
	 * @param id the stream
	 * @param owner the name of the API key that started it
	 * @param createdAt when it was created
	 * @param events its retained events, oldest first
	 * @param view its status object as JSON
	 * @param outputTokens output tokens so far
	 * @param terminal whether it has ended
	 */
	record Snapshot(String id, String owner, Instant createdAt, List<StreamEvent> events, String view, int outputTokens, boolean terminal) {
	}

}
