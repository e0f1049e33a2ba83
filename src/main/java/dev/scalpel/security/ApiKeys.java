package dev.scalpel.security;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;

import org.jspecify.annotations.Nullable;

import dev.scalpel.stream.Caller;

/**
 * The configured API keys, as SHA-256 hashes. A presented key is hashed and compared with every
 * configured hash in constant time (no early exit, no lookup by value), so neither the comparison
 * nor the search reveals how close a guess came. Keys are never stored, logged or echoed.
 */
final class ApiKeys {

	private final List<Entry> entries;

	private record Entry(byte[] hash, Caller caller) {
	}

	ApiKeys(SecurityProperties properties) {
		Set<String> names = new HashSet<>();
		Set<String> hashes = new HashSet<>();
		SecurityProperties.Quota defaults = properties.quota();
		this.entries = properties.keys().stream().map(key -> {
			if (Caller.OPEN.owner().equals(key.name())) {
				throw new IllegalArgumentException("scalpel.security.keys: the name '" + key.name()
						+ "' is reserved for the streams of an open service");
			}
			if (!names.add(key.name())) {
				throw new IllegalArgumentException("scalpel.security.keys: the name '" + key.name() + "' is used twice");
			}
			if (!hashes.add(key.sha256().toLowerCase(java.util.Locale.ROOT))) {
				throw new IllegalArgumentException("scalpel.security.keys: the key named '" + key.name()
						+ "' has the same hash as another key");
			}
			Caller.Quota quota = new Caller.Quota(
					(key.maxConcurrentStreams() != null) ? key.maxConcurrentStreams() : defaults.maxConcurrentStreams(),
					(key.startsPerMinute() != null) ? key.startsPerMinute() : defaults.startsPerMinute());
			return new Entry(HexFormat.of().parseHex(key.sha256()),
					new Caller(key.name(), key.role() == SecurityProperties.Role.ADMIN, quota));
		}).toList();
	}

	/** Whether any key is configured (otherwise the API is open). */
	boolean enabled() {
		return !this.entries.isEmpty();
	}

	int size() {
		return this.entries.size();
	}

	/** The caller a presented key stands for, or null for a key that is not configured. */
	@Nullable Caller authenticate(String presented) {
		byte[] digest = sha256(presented);
		Caller found = null;
		for (Entry entry : this.entries) {
			// Every entry is compared, whatever matched before.
			if (MessageDigest.isEqual(entry.hash(), digest)) {
				found = entry.caller();
			}
		}
		return found;
	}

	/** The caller of a configured key, by the key's name; null when no key has that name. */
	@Nullable Caller named(String name) {
		for (Entry entry : this.entries) {
			if (entry.caller().owner().equals(name)) {
				return entry.caller();
			}
		}
		return null;
	}

	static byte[] sha256(String key) {
		try {
			return MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8));
		}
		catch (NoSuchAlgorithmException ex) {
			throw new IllegalStateException("SHA-256 is not available", ex);
		}
	}

}
