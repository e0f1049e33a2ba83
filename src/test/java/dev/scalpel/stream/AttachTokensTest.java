package dev.scalpel.stream;

import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Base64;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

/** Attach tokens: bound to one stream and owner, expiring, unforgeable without the secret. */
class AttachTokensTest {

	private static final byte[] SECRET = "0123456789abcdef0123456789abcdef".getBytes(StandardCharsets.UTF_8);

	private static final String STREAM = "str_0123456789abcdef0123456789abcdef";

	private final FakeMutableClock clock = new FakeMutableClock(Instant.parse("2026-11-27T10:00:00Z"));

	private final AttachTokens tokens = new AttachTokens(SECRET, Duration.ofMinutes(5), this.clock);

	@Test
	void aTokenIsValidForItsStreamAndOwnerUntilItExpires() {
		AttachTokens.Issued issued = this.tokens.issue(STREAM, "alice");
		assertThat(issued.expiresAt()).isEqualTo(Instant.parse("2026-11-27T10:05:00Z"));
		assertThat(issued.token()).matches("[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+");
		assertThat(this.tokens.check(issued.token(), STREAM)).isEqualTo(new AttachTokens.Check.Valid("alice"));

		this.clock.now = Instant.parse("2026-11-27T10:04:59Z");
		assertThat(this.tokens.check(issued.token(), STREAM)).isInstanceOf(AttachTokens.Check.Valid.class);
		this.clock.now = Instant.parse("2026-11-27T10:05:00Z");
		assertThat(this.tokens.check(issued.token(), STREAM))
			.isEqualTo(new AttachTokens.Check.Expired(Instant.parse("2026-11-27T10:05:00Z")));
	}

	@Test
	void aTokenOpensNoOtherStream() {
		String token = this.tokens.issue(STREAM, "alice").token();
		assertThat(this.tokens.check(token, "str_ffffffffffffffffffffffffffffffff"))
			.isInstanceOf(AttachTokens.Check.Invalid.class);
	}

	@Test
	void ownersWithColonsAndDotsSurviveTheRoundTrip() {
		String token = this.tokens.issue(STREAM, "team.a:b").token();
		assertThat(this.tokens.check(token, STREAM)).isEqualTo(new AttachTokens.Check.Valid("team.a:b"));
	}

	@Test
	void anotherSecretsTokenAndAlteredTokensAreInvalid() {
		AttachTokens other = new AttachTokens("fedcba9876543210fedcba9876543210".getBytes(StandardCharsets.UTF_8),
				Duration.ofMinutes(5), this.clock);
		assertThat(this.tokens.check(other.issue(STREAM, "alice").token(), STREAM))
			.isInstanceOf(AttachTokens.Check.Invalid.class);

		// The payload re-signed by nobody: a claim changed to another owner keeps the old signature.
		String token = this.tokens.issue(STREAM, "alice").token();
		String signature = token.substring(token.indexOf('.') + 1);
		String forged = Base64.getUrlEncoder().withoutPadding()
			.encodeToString((STREAM + ":9999999999:admin").getBytes(StandardCharsets.UTF_8));
		assertThat(this.tokens.check(forged + "." + signature, STREAM)).isInstanceOf(AttachTokens.Check.Invalid.class);

		// Every single-character change of a valid token is refused.
		String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ";
		for (int i = 0; i < token.length(); i++) {
			for (char replacement : alphabet.toCharArray()) {
				if (replacement == token.charAt(i)) {
					continue;
				}
				String altered = token.substring(0, i) + replacement + token.substring(i + 1);
				assertThat(this.tokens.check(altered, STREAM)).as(altered).isNotInstanceOf(AttachTokens.Check.Valid.class);
			}
		}
	}

	@Test
	void garbageIsInvalidNeverAnError() {
		SplittableRandom random = new SplittableRandom(9);
		for (String garbage : new String[] { "", ".", "..", "a.b", "a.b.c", "====.====", "x".repeat(5000), "\u0000.\u0000",
				"é.ü" }) {
			assertThat(this.tokens.check(garbage, STREAM)).as(garbage).isInstanceOf(AttachTokens.Check.Invalid.class);
		}
		assertThat(this.tokens.check(null, STREAM)).isInstanceOf(AttachTokens.Check.Invalid.class);
		for (int i = 0; i < 10_000; i++) {
			char[] chars = new char[random.nextInt(120)];
			for (int j = 0; j < chars.length; j++) {
				chars[j] = (char) random.nextInt(32, 127);
			}
			assertThat(this.tokens.check(new String(chars), STREAM)).isInstanceOf(AttachTokens.Check.Invalid.class);
		}
	}

	@Test
	void aShortSecretIsRefused() {
		assertThatIllegalArgumentException()
			.isThrownBy(() -> new AttachTokens(new byte[31], Duration.ofMinutes(5), Clock.systemUTC()));
	}

	private static final class FakeMutableClock extends Clock {

		volatile Instant now;

		FakeMutableClock(Instant now) {
			this.now = now;
		}

		@Override
		public ZoneOffset getZone() {
			return ZoneOffset.UTC;
		}

		@Override
		public Clock withZone(java.time.ZoneId zone) {
			return this;
		}

		@Override
		public Instant instant() {
			return this.now;
		}

	}

}
