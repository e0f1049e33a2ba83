package dev.scalpel.cluster;

import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;

import dev.scalpel.stream.SharedStreams;

/**
 * {@code cluster} in the readiness group: in redis mode, out of service while Redis is unreachable
 * (starts are then refused with {@code 503}); always up in memory mode.
 */
final class ClusterHealthIndicator implements HealthIndicator {

	private final ClusterProperties properties;

	private final SharedStreams shared;

	ClusterHealthIndicator(ClusterProperties properties, SharedStreams shared) {
		this.properties = properties;
		this.shared = shared;
	}

	@Override
	public Health health() {
		Health.Builder health = this.shared.available() ? Health.up() : Health.outOfService();
		health.withDetail("mode", this.properties.mode().name().toLowerCase(java.util.Locale.ROOT));
		if (this.shared instanceof RedisSharedStreams redis) {
			health.withDetail("replica", redis.replicaId());
		}
		return health.build();
	}

}
