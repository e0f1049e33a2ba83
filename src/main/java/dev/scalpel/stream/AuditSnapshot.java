package dev.scalpel.stream;

import java.util.List;

import org.jspecify.annotations.Nullable;

import dev.scalpel.slot.Permit;

/** What the leak audit and the operator view read of a stream, taken under its monitor. */
record AuditSnapshot(StreamStatus status, @Nullable Permit permit, @Nullable Permit releasing, long startedNanos,
		long endedNanos, boolean everAttached, long unattendedSince, long createdNanos, List<Listener> listeners) {
}
