package dev.scalpel.stream;

import java.time.Duration;

import org.jspecify.annotations.Nullable;

/**
 * Told by the stream core of every lifecycle transition, in the thread that made it; metrics and
 * lifecycle logs implement it. Implementations must be quick and must not block or throw: they sit on
 * the path of every stream, {@link #token} on the path of every token.
 */
public interface StreamObserver {

	/** A stream was created (its start was accepted). */
	default void created(String id, String model, boolean background) {
	}

	/** A start was refused and nothing was created. */
	default void rejected(Rejection reason) {
	}

	/** A stream got its slot and its upstream call began, {@code waited} after it asked for the slot. */
	default void started(String id, Duration waited) {
	}

	/** The first token of a stream arrived, {@code sinceAsked} after the stream asked for its slot. */
	default void firstToken(String id, Duration sinceAsked) {
	}

	/** A token was appended to some stream. */
	default void token() {
	}

	/**
	 * A stream reached its terminal status.
	 * @param lifetime from creation to the end
	 * @param ran from the start of the upstream call to the end, null if it never started
	 * @param slotRelease from the trigger to the slot being free, null if it held no slot
	 */
	default void ended(String id, FinishReason reason, Duration lifetime, @Nullable Duration ran,
			@Nullable Duration slotRelease) {
	}

	/**
	 * A listener was dropped for not keeping up with its stream: it fell behind the replay buffer, or
	 * its client read nothing for longer than the leak auditor's slack after the stream ended. Its
	 * client may resume with {@code Last-Event-ID}.
	 */
	default void listenerDropped(String id) {
	}

	/** Why a start was refused, as the {@code scalpel.streams.rejected} tag names it. */
	enum Rejection {

		OVERLOADED("overloaded"), INVALID("invalid"), SHUTTING_DOWN("shutting_down"),
		UPSTREAM_UNAVAILABLE("upstream_unavailable"), CLUSTER_UNAVAILABLE("cluster_unavailable"),
		QUOTA_EXCEEDED("quota_exceeded"), UNAUTHORIZED("unauthorized");

		private final String tag;

		Rejection(String tag) {
			this.tag = tag;
		}

		public String tag() {
			return this.tag;
		}

	}

}
