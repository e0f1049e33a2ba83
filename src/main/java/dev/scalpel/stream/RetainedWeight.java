package dev.scalpel.stream;

import java.util.Map;

import org.jspecify.annotations.Nullable;

import dev.scalpel.upstream.GenerationRequest;
import dev.scalpel.upstream.Message;

/**
 * An ended stream's place in the retention memory budget: when the registry retired it and what it
 * then weighed, and the estimates of what its parts weigh.
 */
final class RetainedWeight {

	/** When the registry retired the stream, by its caches' ticker. */
	private volatile long retiredTicks;

	/** What the stream weighed when the registry retired it. */
	private volatile long weight;

	long retiredTicks() {
		return this.retiredTicks;
	}

	long weight() {
		return this.weight;
	}

	/** The registry retired the stream at {@code ticks}; it then weighed {@code weight}. */
	void retired(long ticks, long weight) {
		this.retiredTicks = ticks;
		this.weight = weight;
	}

	/** About how many bytes of heap a status and its metadata hold. */
	static long ofStatus(String id, String model, String owner, Map<String, String> metadata) {
		long weight = 1024 + id.length() + model.length() + owner.length();
		for (Map.Entry<String, String> entry : metadata.entrySet()) {
			weight += 64 + 2L * (entry.getKey().length() + entry.getValue().length());
		}
		return weight;
	}

	/** About how many bytes of heap a prompt holds; 0 for one already let go. */
	static long of(@Nullable GenerationRequest request) {
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

}
