package dev.scalpel.stream;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.jspecify.annotations.Nullable;

import dev.scalpel.slot.Permit;
import dev.scalpel.slot.SlotPool;
import dev.scalpel.upstream.UpstreamProperties;

/**
 * Checks the invariants of ARCHITECTURE.md and reclaims what breaks them: a slot held by no
 * in-progress stream, a stream in progress past the upstream max-duration, a non-background stream
 * without listeners past its disconnect grace (or never attached past its attach timeout), a
 * listener still attached to a terminal stream. Every leak is a bug; the leak auditor runs it.
 */
public final class LeakAudit {

	// Logged under the manager's name, which operators' log filters know.
	private static final Log logger = LogFactory.getLog(StreamManager.class);

	private final SlotPool slots;

	private final StreamRegistry registry;

	private final StreamLifecycle lifecycle;

	private final StreamProperties properties;

	private final UpstreamProperties upstream;

	LeakAudit(SlotPool slots, StreamRegistry registry, StreamLifecycle lifecycle, StreamProperties properties,
			UpstreamProperties upstream) {
		this.slots = slots;
		this.registry = registry;
		this.lifecycle = lifecycle;
		this.properties = properties;
		this.upstream = upstream;
	}

	/** Something the audit found and reclaimed. */
	public record Leak(String resource, @Nullable String streamId, String problem) {
	}

	/**
	 * One audit. Each limit is given {@code slack} on top, so that only what the normal release paths
	 * failed to release is found.
	 */
	public List<Leak> audit(Duration slack) {
		long now = System.nanoTime();
		long margin = slack.toNanos();
		List<Leak> leaks = new ArrayList<>();
		// Held permits first: one granted after this snapshot cannot be mistaken for an orphan.
		List<SlotPool.Held> held = this.slots.held();
		Set<Permit> owned = Collections.newSetFromMap(new IdentityHashMap<>());
		for (ManagedStream stream : this.registry.live()) {
			AuditSnapshot audit = stream.audit();
			if (audit.permit() != null) {
				owned.add(audit.permit());
			}
			// An ended stream's slot is freed after its upstream call is closed: until then, for the
			// slack, it is still the stream's, not an orphan.
			Permit releasing = audit.releasing();
			if (releasing != null && !releasing.released()) {
				if (now - audit.endedNanos() <= margin) {
					owned.add(releasing);
				}
				else {
					releasing.release();
					leaks.add(new Leak("slot", stream.id(), "slot not freed after the stream ended"));
				}
			}
			live(stream, audit, now, margin, leaks);
		}
		for (ManagedStream stream : this.registry.all()) {
			ended(stream, stream.audit(), now, slack, leaks);
		}
		for (SlotPool.Held permit : held) {
			if (!owned.contains(permit.permit()) && !permit.permit().released() && now - permit.grantedAt() > margin) {
				permit.permit().release();
				leaks.add(new Leak("slot", null, "slot held by no in-progress stream"));
			}
		}
		return leaks;
	}

	/** A live stream past a limit that should have ended it. */
	private void live(ManagedStream stream, AuditSnapshot audit, long now, long margin, List<Leak> leaks) {
		if (audit.status() == StreamStatus.IN_PROGRESS
				&& now - audit.startedNanos() > this.upstream.maxDuration().toNanos() + margin) {
			if (this.lifecycle.end(stream,
					Ending.failed(FinishReason.TIMEOUT, "the generation ran longer than " + this.upstream.maxDuration()),
					Guard.NONE)) {
				leaks.add(new Leak("stream", stream.id(), "in progress past the upstream max-duration"));
			}
		}
		else if (!stream.background() && !audit.status().terminal() && audit.listeners().isEmpty()) {
			// A listener dropped for falling behind gets the attach timeout rather than the grace.
			long unattendedLimit = Math.max(this.properties.disconnectGrace().toNanos(),
					this.properties.attachTimeout().toNanos());
			if (audit.everAttached() && audit.unattendedSince() != 0
					&& now - audit.unattendedSince() > unattendedLimit + margin) {
				if (this.lifecycle.end(stream, Ending.of(FinishReason.CLIENT_DISCONNECTED), Guard.UNATTENDED)) {
					leaks.add(new Leak("stream", stream.id(), "no listener past the disconnect grace"));
				}
			}
			else if (!audit.everAttached()
					&& now - audit.createdNanos() > this.properties.attachTimeout().toNanos() + margin) {
				if (this.lifecycle.end(stream, Ending.of(FinishReason.NEVER_ATTACHED), Guard.NEVER_ATTACHED)) {
					leaks.add(new Leak("stream", stream.id(), "never attached past the attach timeout"));
				}
			}
		}
	}

	/** Listeners still attached to a stream that ended more than the slack ago. */
	private void ended(ManagedStream stream, AuditSnapshot audit, long now, Duration slack, List<Leak> leaks) {
		long margin = slack.toNanos();
		if (!audit.status().terminal() || now - audit.endedNanos() <= margin) {
			return;
		}
		for (Listener listener : audit.listeners()) {
			// Aged from the end or from its own attach, whichever is later: a replay of a stream that
			// ended long ago is a reader at work, not a listener the end forgot.
			if (now - Math.max(audit.endedNanos(), listener.createdNanos()) > margin) {
				if (listener.waitingForReader()) {
					// A stalled reader, not a leak: dropped as one that fell behind, so that it holds nothing
					// longer; its client may resume.
					listener.dropBehind();
					logger.info("Listener of stream " + stream.id() + " dropped: its client stopped reading, "
							+ "and the stream ended more than " + slack.toMillis()
							+ " ms ago; it may resume with Last-Event-ID");
					continue;
				}
				listener.disconnect();
				leaks.add(new Leak("listener", stream.id(), "listener still attached after the terminal event"));
			}
		}
	}

}
