package dev.scalpel.cluster;

/**
 * Every name redis mode writes under: the keys (all under the configured prefix), the fields of a
 * stream's hash and of its Redis Stream entries. The Lua scripts in {@code META-INF/scripts/scalpel}
 * spell the same field names; {@code RedisScriptsTest} holds them to these.
 */
final class RedisKeys {

	/** The stream's status object as JSON, as of its last status change. */
	static final String VIEW = "view";

	/** The id of the last event the status object was written with. */
	static final String LAST = "last";

	/** Output tokens as of the status object. */
	static final String TOKENS = "tokens";

	/** The replica that runs the stream. */
	static final String OWNER = "owner";

	/** The name of the API key the stream belongs to. */
	static final String KEY = "key";

	/** Present once the stream has a terminal state: the first one recorded wins. */
	static final String FINAL = "final";

	/** An entry's event type. */
	static final String ENTRY_TYPE = "t";

	/** An entry's event data. */
	static final String ENTRY_DATA = "d";

	/** An entry's output tokens so far. */
	static final String ENTRY_TOKENS = "n";

	private final String prefix;

	RedisKeys(String prefix) {
		this.prefix = prefix;
	}

	/** The status hash of a stream. */
	String hash(String id) {
		return this.prefix + "stream:" + id;
	}

	/** The Redis Stream of a stream's events (entry id = event id). */
	String events(String id) {
		return this.prefix + "events:" + id;
	}

	/** The pub/sub channel of a stream's live events. */
	String channel(String id) {
		return this.prefix + "live:" + id;
	}

	/** The listing index of every replica's streams, by creation time. */
	String index() {
		return this.prefix + "streams";
	}

	/** The listing index of one API key's streams. */
	String keyIndex(String owner) {
		return this.prefix + "streams:key:" + owner;
	}

	/** The live streams of a replica. */
	String owned(String replica) {
		return this.prefix + "owned:" + replica;
	}

	/** A replica's lease. */
	String lease(String replica) {
		return this.prefix + "replica:" + replica;
	}

	/** Every replica that has taken a lease. */
	String replicas() {
		return this.prefix + "replicas";
	}

	/** Where other replicas ask a replica to cancel one of its streams. */
	String cancelChannel(String replica) {
		return this.prefix + "cancel:" + replica;
	}

}
