package dev.scalpel.stream;

import java.util.Collection;
import java.util.Optional;

/**
 * Where streams are found by id: live ones until they end, terminal ones for the retention window
 * and then never again. The seam for a shared store in multi-replica mode.
 */
interface StreamRegistry {

	/** Makes a new stream findable. A stream that is already terminal is retained at once. */
	void register(ManagedStream stream);

	/** The live or retained stream with this id. */
	Optional<ManagedStream> find(String id);

	/** Called once a stream is terminal: it stays findable for the retention window only. */
	void retire(ManagedStream stream);

	/** Live streams. */
	Collection<ManagedStream> live();

	/** Live and retained streams, in no order. */
	Collection<ManagedStream> all();

	/**
	 * About how many bytes ended streams keep, estimated: index 0 those with their events, index 1
	 * those compacted to their status.
	 */
	long[] retainedBytes();

}
