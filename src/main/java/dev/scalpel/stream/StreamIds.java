package dev.scalpel.stream;

import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.regex.Pattern;

/** Unguessable stream ids: {@code str_} and 128 random bits as 32 hex characters. */
final class StreamIds {

	private static final Pattern FORMAT = Pattern.compile("str_[0-9a-f]{32}");

	private final SecureRandom random;

	StreamIds() {
		try {
			// DRBG seeds once, here, and then never reads the entropy device again: the platform default
			// (NativePRNG) reads /dev/urandom on every call, which is blocking I/O on an event loop.
			this.random = SecureRandom.getInstance("DRBG");
			this.random.nextBytes(new byte[16]);
		}
		catch (NoSuchAlgorithmException ex) {
			throw new IllegalStateException("the JDK offers no DRBG SecureRandom", ex);
		}
	}

	String next() {
		byte[] bytes = new byte[16];
		this.random.nextBytes(bytes);
		return "str_" + HexFormat.of().formatHex(bytes);
	}

	/** Whether the text has the shape of an id; anything else cannot name a stream. */
	static boolean wellFormed(String id) {
		return FORMAT.matcher(id).matches();
	}

}
