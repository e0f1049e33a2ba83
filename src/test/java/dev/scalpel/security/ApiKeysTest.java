package dev.scalpel.security;

import java.util.HexFormat;
import java.util.List;

import org.junit.jupiter.api.Test;

import dev.scalpel.stream.Caller;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

/** Keys configured as hashes: who a presented key is, and what configurations are refused. */
class ApiKeysTest {

	static String hash(String key) {
		return HexFormat.of().formatHex(ApiKeys.sha256(key));
	}

	private static SecurityProperties.ApiKey key(String name, String raw, SecurityProperties.Role role,
			Integer concurrent, Integer starts) {
		return new SecurityProperties.ApiKey(name, hash(raw), role, concurrent, starts);
	}

	private static SecurityProperties properties(List<SecurityProperties.ApiKey> keys, int concurrent, int starts) {
		return new SecurityProperties(keys, new SecurityProperties.Quota(concurrent, starts),
				new SecurityProperties.AttachToken(java.time.Duration.ofMinutes(5), null),
				new SecurityProperties.Cors(List.of(), java.time.Duration.ofMinutes(30)));
	}

	@Test
	void aPresentedKeyIsTheCallerOfItsHashWithItsRoleAndQuota() {
		ApiKeys keys = new ApiKeys(properties(List.of(key("alice", "sk-a", SecurityProperties.Role.USER, 3, null),
				key("ops", "sk-o", SecurityProperties.Role.ADMIN, null, null)), 10, 100));
		assertThat(keys.enabled()).isTrue();
		assertThat(keys.authenticate("sk-a")).isEqualTo(new Caller("alice", false, new Caller.Quota(3, 100)));
		assertThat(keys.authenticate("sk-o")).isEqualTo(new Caller("ops", true, new Caller.Quota(10, 100)));
		assertThat(keys.authenticate("sk-a ")).isNull();
		assertThat(keys.authenticate("")).isNull();
		assertThat(keys.authenticate(hash("sk-a"))).as("the hash is not the key").isNull();
		assertThat(keys.named("ops")).isEqualTo(keys.authenticate("sk-o"));
		assertThat(keys.named("nobody")).isNull();
	}

	@Test
	void hashesAreReadInEitherCase() {
		ApiKeys keys = new ApiKeys(properties(List.of(new SecurityProperties.ApiKey("alice", hash("sk-a").toUpperCase(),
				SecurityProperties.Role.USER, null, null)), 0, 0));
		assertThat(keys.authenticate("sk-a")).isNotNull();
	}

	@Test
	void noKeysMeansAnOpenService() {
		assertThat(new ApiKeys(properties(List.of(), 0, 0)).enabled()).isFalse();
	}

	@Test
	void namesMustBeUniqueHashesTooAndAnonymousIsReserved() {
		assertThatIllegalArgumentException().isThrownBy(() -> new ApiKeys(properties(
				List.of(key("a", "k1", SecurityProperties.Role.USER, null, null), key("a", "k2", SecurityProperties.Role.USER, null, null)),
				0, 0))).withMessageContaining("used twice");
		assertThatIllegalArgumentException().isThrownBy(() -> new ApiKeys(properties(
				List.of(key("a", "k1", SecurityProperties.Role.USER, null, null), key("b", "k1", SecurityProperties.Role.USER, null, null)),
				0, 0))).withMessageContaining("same hash");
		assertThatIllegalArgumentException().isThrownBy(() -> new ApiKeys(properties(
				List.of(key("anonymous", "k1", SecurityProperties.Role.USER, null, null)), 0, 0)))
			.withMessageContaining("reserved");
	}

	@Test
	void neitherTheKeyNorItsHashAppearsInToString() {
		SecurityProperties.ApiKey key = key("alice", "sk-secret", SecurityProperties.Role.USER, null, null);
		assertThat(key.toString()).doesNotContain(hash("sk-secret")).contains("alice");
		Credentials.BearerKey bearer = new Credentials.BearerKey("sk-secret");
		assertThat(bearer.toString()).doesNotContain("sk-secret");
		bearer.eraseCredentials();
		assertThat(bearer.getCredentials()).isEmpty();
	}

}
