package dev.scalpel.stream;

import java.util.Objects;

/**
 * Who asks: the API key a request came with (its name; never the key itself), whether that key is an
 * administrator's, and its quota. A stream belongs to the key that started it: only that key may
 * attach to it, and only it or an administrator may see, list or cancel it; to any other key the
 * stream does not exist ({@code 404}). With no keys configured every request is {@link #OPEN}.
 *
 * @param owner the name of the key, the owner of the streams it starts
 * @param admin whether the key may list, see and cancel every stream (not read other keys' events)
 * @param quota the key's limits
 */
public record Caller(String owner, boolean admin, Quota quota) {

	/** Every request when no API keys are configured: one owner, no limits. */
	public static final Caller OPEN = new Caller("anonymous", false, Quota.NONE);

	public Caller {
		Objects.requireNonNull(owner, "owner");
		Objects.requireNonNull(quota, "quota");
	}

	/** Whether this caller may read the events of a stream of {@code owner}. */
	boolean mayRead(String owner) {
		return this.owner.equals(owner);
	}

	/** Whether this caller may see, list or cancel a stream of {@code owner}. */
	boolean mayManage(String owner) {
		return this.admin || this.owner.equals(owner);
	}

	/**
	 * A key's limits on this replica; 0 means no limit.
	 * @param maxConcurrentStreams streams not yet ended (queued or in progress) at once
	 * @param startsPerMinute streams started in a minute
	 */
	public record Quota(int maxConcurrentStreams, int startsPerMinute) {

		public static final Quota NONE = new Quota(0, 0);

		public Quota {
			if (maxConcurrentStreams < 0 || startsPerMinute < 0) {
				throw new IllegalArgumentException("quota limits must not be negative");
			}
		}

		boolean limited() {
			return this.maxConcurrentStreams > 0 || this.startsPerMinute > 0;
		}

	}

}
