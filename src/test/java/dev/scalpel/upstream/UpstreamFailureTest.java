package dev.scalpel.upstream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.assertj.core.api.Assertions.assertThat;

class UpstreamFailureTest {

	@Test
	void theConfiguredKeyIsMaskedWherePresent() {
		assertThat(UpstreamFailure.sanitise("Incorrect API key provided: my-own-key-1234.", "my-own-key-1234"))
			.isEqualTo("Incorrect API key provided: ***.");
	}

	@Test
	void keyShapedTextIsMaskedEvenWhenItIsNotTheConfiguredKey() {
		assertThat(UpstreamFailure.sanitise("Incorrect API key provided: sk-proj-abc123XYZ****wxyz. See docs.", null))
			.isEqualTo("Incorrect API key provided: ***. See docs.");
		assertThat(UpstreamFailure.sanitise("header was Bearer abc.def.ghi", null)).isEqualTo("header was ***");
	}

	@Test
	void controlCharactersAreReplacedAndLongMessagesCut() {
		assertThat(UpstreamFailure.sanitise("line one\nline\ttwo\u0000", null)).isEqualTo("line one line two");
		String cut = UpstreamFailure.sanitise("word ".repeat(200), null);
		assertThat(cut).hasSize(303).endsWith("...");
		assertThat(UpstreamFailure.sanitise(null, "key")).isEmpty();
	}

	@ParameterizedTest
	@CsvSource({ "429, true, true", "503, true, true", "500, false, true", "502, false, true", "401, false, true",
			"403, false, true", "400, false, false", "404, false, false", "413, false, false", "422, false, false" })
	void onlyRefusalsAreRetriedAndOnlyTheEndpointsFaultsCount(int status, boolean retryable, boolean counts) {
		UpstreamFailure failure = new UpstreamFailure("e", UpstreamFailure.Kind.STATUS, status, null, "m", null, null);
		assertThat(failure.retryable()).isEqualTo(retryable);
		assertThat(failure.countsAsFailure()).isEqualTo(counts);
	}

	@Test
	void aConnectionThatFailedBeforeTheProviderAnsweredIsRetriedAndCounts() {
		UpstreamFailure failure = UpstreamFailure.unanswered("e", "could not connect to e", new java.net.ConnectException());
		assertThat(failure.kind()).isEqualTo(UpstreamFailure.Kind.CONNECTION);
		assertThat(failure.unanswered()).isTrue();
		assertThat(failure.retryable()).isTrue();
		assertThat(failure.countsAsFailure()).isTrue();
		assertThat(failure.sanitised("key").unanswered()).isTrue();
	}

	@Test
	void failuresWithoutAStatusCountAndAreNotRetried() {
		for (UpstreamFailure.Kind kind : UpstreamFailure.Kind.values()) {
			if (kind != UpstreamFailure.Kind.STATUS) {
				UpstreamFailure failure = new UpstreamFailure("e", kind, null, null, "m", null, null);
				assertThat(failure.retryable()).as(kind.name()).isFalse();
				assertThat(failure.countsAsFailure()).as(kind.name()).isTrue();
			}
		}
	}

}
