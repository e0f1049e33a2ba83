package dev.scalpel.stream;

import java.time.Instant;
import java.util.List;
import java.util.function.LongFunction;

import org.jspecify.annotations.Nullable;

/**
 * What one stream writes to the shared store ({@link SharedStreams}), called under the stream's
 * monitor so that the store sees its events in order.
 */
final class Replication {

	private final SharedStreams shared;

	private final String id;

	/**
	 * Whether its creation and events go to the shared store: only once its start was accepted
	 * ({@link #publish}), so that a start refused with a full queue leaves nothing there (API.md: a
	 * rejected start creates no stream) and costs no write. Guarded by the stream's monitor.
	 */
	private boolean published;

	Replication(SharedStreams shared, String id) {
		this.shared = shared;
		this.id = id;
	}

	/** Whether {@link #appended} wants the status JSON of a first token or a queue position. */
	boolean wantsViews() {
		return this.shared.wantsViews();
	}

	/**
	 * Shares the creation, then the events appended so far as they would have been shared when
	 * appended; later ones are shared as they come. Once.
	 * @param viewAt the status JSON as of an event id
	 */
	void publish(String owner, Instant createdAt, List<StreamEvent> events, LongFunction<String> viewAt,
			int outputTokens) {
		if (this.published) {
			return;
		}
		this.published = true;
		this.shared.created(this.id, owner, createdAt);
		for (int i = 0; i < events.size(); i++) {
			StreamEvent event = events.get(i);
			String view = null;
			if (event.is(EventType.CREATED)) {
				// A status event's data is the status object as of itself.
				view = event.data();
			}
			else if (i == events.size() - 1 && this.shared.wantsViews()) {
				view = viewAt.apply(event.id());
			}
			appended(event, view, outputTokens);
		}
	}

	/** Shares an event once the stream is published. */
	void appended(StreamEvent event, @Nullable String view, int outputTokens) {
		if (this.published) {
			this.shared.appended(this.id, event, view, outputTokens);
		}
	}

	/** The stream as its owner holds it, for writing it again to a shared store. */
	SharedStreams.Snapshot snapshot(String owner, Instant createdAt, List<StreamEvent> events, String view,
			int outputTokens, boolean terminal) {
		return new SharedStreams.Snapshot(this.id, owner, createdAt, events, view, outputTokens, terminal);
	}

}
