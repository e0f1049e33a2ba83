package dev.scalpel.observe;

import java.util.List;

import org.springframework.boot.actuate.endpoint.annotation.DeleteOperation;
import org.springframework.boot.actuate.endpoint.annotation.Endpoint;
import org.springframework.boot.actuate.endpoint.annotation.ReadOperation;
import org.springframework.boot.actuate.endpoint.annotation.Selector;

import dev.scalpel.stream.StreamManager;
import dev.scalpel.stream.StreamView;

/**
 * {@code /actuator/streams} on the management port: the live streams for operators, and
 * {@code DELETE /actuator/streams/{id}} to cancel one (as the cancel endpoint does).
 */
@Endpoint(id = "streams")
public class StreamsEndpoint {

	private final StreamManager manager;

	StreamsEndpoint(StreamManager manager) {
		this.manager = manager;
	}

	@ReadOperation
	public LiveStreams streams() {
		List<Entry> entries = this.manager.live()
			.stream()
			.map(live -> new Entry(live.id(), live.status(), live.model(), live.background(),
					live.age().toMillis() / 1000.0,
					(live.slotHeldFor() != null) ? live.slotHeldFor().toMillis() / 1000.0 : null, live.listeners(),
					live.lastEventId()))
			.toList();
		return new LiveStreams(entries.size(), entries);
	}

	@DeleteOperation
	public StreamView cancel(@Selector String id) {
		return this.manager.cancel(id);
	}

	/** The body of the read operation. */
	public record LiveStreams(int count, List<Entry> streams) {
	}

	/**
	 * One live stream; times in seconds.
	 * @param slotHeldForSeconds how long it has held its slot, null while it holds none
	 */
	public record Entry(String id, String status, String model, boolean background, double ageSeconds,
			Double slotHeldForSeconds, int listeners, long lastEventId) {
	}

}
