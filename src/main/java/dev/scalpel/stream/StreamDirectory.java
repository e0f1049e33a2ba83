package dev.scalpel.stream;

import java.util.List;
import java.util.function.Function;
import java.util.function.Supplier;

import org.jspecify.annotations.Nullable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * Finds a stream wherever it runs, for a caller who may see it (its owner or an administrator; to
 * anyone else it does not exist): this replica's streams are served by the {@link StreamManager},
 * in redis mode another replica's through {@link SharedStreams}. The id is checked and the stream
 * looked up once; what is found here is handed on as it is.
 */
final class StreamDirectory {

	private final StreamManager manager;

	private final StreamRegistry registry;

	private final SharedStreams shared;

	StreamDirectory(StreamManager manager, StreamRegistry registry, SharedStreams shared) {
		this.manager = manager;
		this.registry = registry;
		this.shared = shared;
	}

	/** What a caller may do with a stream: see and manage it (status, cancel), or read it (attach). */
	private enum Access {

		MANAGE, READ;

		boolean allows(Caller caller, String owner) {
			return (this == READ) ? caller.mayRead(owner) : caller.mayManage(owner);
		}

	}

	/** The status of a stream. */
	Mono<StreamView> status(String id, Caller caller) {
		return either(id, caller, Access.MANAGE, stream -> Mono.just(stream.view()),
				() -> this.shared.status(id).switchIfEmpty(notFound(id)));
	}

	/** Cancels a stream (on its owner, in redis mode); the status after, once its slot is free. */
	Mono<StreamView> cancel(String id, Caller caller) {
		return either(id, caller, Access.MANAGE, stream -> Mono.fromSupplier(() -> this.manager.cancel(stream)),
				() -> this.shared.cancel(id).switchIfEmpty(notFound(id)));
	}

	/**
	 * The events of a stream: replayed after {@code after}, then live. Errors ({@code 404}, {@code 410},
	 * {@code 429}) come before any event.
	 */
	Mono<Attached> events(String id, long after, Caller caller) {
		if (after < 0) {
			throw InvalidRequest.invalid("after", "must not be negative");
		}
		return either(id, caller, Access.READ, stream -> Mono.fromSupplier(() -> {
			Listener listener = this.manager.attach(stream, after);
			return new Attached(listener.events(), listener.batches(), listener::abandon);
		}), () -> Mono.defer(() -> this.shared.events(id, after)).map(events -> new Attached(events, events.map(List::of), () -> {
		})));
	}

	/**
	 * A listener's events, and what to call if they will never be read (its answer was not written), so
	 * that it leaves at once rather than at the attach timeout.
	 */
	record Attached(Flux<StreamEvent> events, Flux<List<StreamEvent>> batches, Runnable abandon) {
	}

	/**
	 * Completes if the caller may attach to the stream; {@link StreamNotFound} otherwise. For what an
	 * attach would do without attaching: an attach token, the headers of a {@code HEAD}.
	 */
	Mono<Void> readable(String id, Caller caller) {
		return either(id, caller, Access.READ, stream -> Mono.empty(), Mono::empty);
	}

	/** Every replica's streams in redis mode, this one's in memory mode, of the caller's key or, for an administrator, of all. */
	Mono<StreamPage> list(@Nullable StreamStatus status, int limit, @Nullable String after, Caller caller) {
		String owner = caller.admin() ? null : caller.owner();
		return this.shared.list(status, limit, after, owner)
			.switchIfEmpty(Mono.fromSupplier(() -> this.manager.list(status, limit, after, owner)));
	}

	/**
	 * The one ownership check: {@code here} with this replica's stream when it holds it for a caller
	 * with {@code access} ({@link StreamNotFound} when it holds it for another owner, or the id is
	 * malformed), else {@code elsewhere} if another replica's stream is the caller's.
	 */
	private <T> Mono<T> either(String id, Caller caller, Access access, Function<ManagedStream, Mono<T>> here,
			Supplier<Mono<T>> elsewhere) {
		if (!StreamIds.wellFormed(id)) {
			throw new StreamNotFound(id);
		}
		ManagedStream stream = this.registry.find(id).orElse(null);
		if (stream != null) {
			if (!access.allows(caller, stream.owner())) {
				throw new StreamNotFound(id);
			}
			return here.apply(stream);
		}
		return this.shared.owner(id)
			.filter(owner -> access.allows(caller, owner))
			.switchIfEmpty(notFound(id))
			.then(elsewhere.get());
	}

	private static <T> Mono<T> notFound(String id) {
		return Mono.error(() -> new StreamNotFound(id));
	}

}
