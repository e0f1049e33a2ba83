package dev.scalpel.stream;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

import org.jspecify.annotations.Nullable;

/**
 * Short-lived tokens that let a browser's {@code EventSource}, which cannot send an
 * {@code Authorization} header, attach to one stream as its owner ({@code ?token=} on the events
 * endpoint, and nowhere else).
 *
 * <p>A token is {@code base64url(stream id ":" expiry ":" owner) "." base64url(HMAC-SHA256)}: it
 * names the stream, the key that owns it and its expiry, and is signed with a secret every replica
 * shares, so any replica can check it without a store. Written here rather than taken from a JWT
 * library: the claim set is fixed and three fields long, and the whole check is one HMAC and one
 * constant-time comparison.
 */
public final class AttachTokens {

	private static final String ALGORITHM = "HmacSHA256";

	private static final Base64.Encoder ENCODER = Base64.getUrlEncoder().withoutPadding();

	private static final Base64.Decoder DECODER = Base64.getUrlDecoder();

	/** Longest token accepted for checking; longer is not one of ours. */
	private static final int MAX_LENGTH = 1024;

	private final SecretKeySpec secret;

	private final Duration ttl;

	private final Clock clock;

	private final ThreadLocal<Mac> macs;

	/**
	 * @param secret the signing secret, at least 32 bytes, the same on every replica
	 * @param ttl how long a token may be used to attach
	 * @param clock the clock expiries are read from
	 */
	public AttachTokens(byte[] secret, Duration ttl, Clock clock) {
		if (secret.length < 32) {
			throw new IllegalArgumentException("the attach token secret must be at least 32 bytes");
		}
		this.secret = new SecretKeySpec(secret.clone(), ALGORITHM);
		this.ttl = ttl;
		this.clock = clock;
		this.macs = ThreadLocal.withInitial(() -> {
			try {
				Mac mac = Mac.getInstance(ALGORITHM);
				mac.init(this.secret);
				return mac;
			}
			catch (GeneralSecurityException ex) {
				throw new IllegalStateException("HMAC-SHA256 is not available", ex);
			}
		});
	}

	/** A token issued for a stream and its owner, and until when it may be used. */
	public record Issued(String token, Instant expiresAt) {
	}

	/** A token for attaching to {@code streamId} as {@code owner}, valid for the configured time. */
	public Issued issue(String streamId, String owner) {
		Instant expiresAt = this.clock.instant().plus(this.ttl).truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
		byte[] payload = (streamId + ":" + expiresAt.getEpochSecond() + ":" + owner).getBytes(StandardCharsets.UTF_8);
		return new Issued(ENCODER.encodeToString(payload) + "." + ENCODER.encodeToString(sign(payload)), expiresAt);
	}

	/** What a token says about an attach to one stream. */
	public sealed interface Check {

		/** Signed by us, for this stream, not expired: attach as this owner. */
		record Valid(String owner) implements Check {
		}

		/** Not a token of ours (malformed, or signed with another secret), or for another stream. */
		record Invalid() implements Check {
		}

		/** Ours and for this stream, but past its expiry. */
		record Expired(Instant expiredAt) implements Check {
		}

	}

	/** Checks a token presented for attaching to {@code streamId}. */
	public Check check(@Nullable String token, String streamId) {
		if (token == null || token.length() > MAX_LENGTH) {
			return new Check.Invalid();
		}
		int dot = token.indexOf('.');
		if (dot <= 0 || dot != token.lastIndexOf('.')) {
			return new Check.Invalid();
		}
		byte[] payload;
		byte[] signature;
		try {
			payload = DECODER.decode(token.substring(0, dot));
			signature = DECODER.decode(token.substring(dot + 1));
		}
		catch (IllegalArgumentException ex) {
			return new Check.Invalid();
		}
		// One spelling per token: base64 text whose unused trailing bits are set is not ours.
		if (!ENCODER.encodeToString(payload).equals(token.substring(0, dot))
				|| !ENCODER.encodeToString(signature).equals(token.substring(dot + 1))) {
			return new Check.Invalid();
		}
		if (!MessageDigest.isEqual(sign(payload), signature)) {
			return new Check.Invalid();
		}
		// Signed by us, so well-formed from here on.
		String[] claims = new String(payload, StandardCharsets.UTF_8).split(":", 3);
		if (claims.length != 3 || !claims[0].equals(streamId)) {
			return new Check.Invalid();
		}
		Instant expiresAt = Instant.ofEpochSecond(Long.parseLong(claims[1]));
		if (!this.clock.instant().isBefore(expiresAt)) {
			return new Check.Expired(expiresAt);
		}
		return new Check.Valid(claims[2]);
	}

	private byte[] sign(byte[] payload) {
		return this.macs.get().doFinal(payload);
	}

}
