package dev.scalpel.stream;

import java.util.HashSet;
import java.util.Set;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** Stream ids are unguessable, well-formed, and anything else is recognised as not an id. */
class StreamIdsTest {

	@Test
	void idsAreStrFollowedBy32HexCharactersAndDoNotRepeat() {
		StreamIds ids = new StreamIds();
		Set<String> seen = new HashSet<>();
		for (int i = 0; i < 10_000; i++) {
			String id = ids.next();
			assertThat(id).matches("str_[0-9a-f]{32}");
			assertThat(seen.add(id)).isTrue();
		}
	}

	@Test
	void malformedIdsAreRecognised() {
		assertThat(StreamIds.wellFormed("str_0123456789abcdef0123456789abcdef")).isTrue();
		assertThat(StreamIds.wellFormed("str_0123456789ABCDEF0123456789abcdef")).isFalse();
		assertThat(StreamIds.wellFormed("str_123")).isFalse();
		assertThat(StreamIds.wellFormed("../etc/passwd")).isFalse();
		assertThat(StreamIds.wellFormed("")).isFalse();
	}

}
