package dev.scalpel.cluster;

import java.time.Duration;

import jakarta.validation.constraints.NotNull;
import org.hibernate.validator.constraints.time.DurationMin;
import org.jspecify.annotations.Nullable;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * How replicas share streams ({@code scalpel.cluster}).
 *
 * @param mode {@code memory} (one replica, the default) or {@code redis} (any number of replicas sharing
 * streams through Redis, connected with {@code spring.data.redis.*})
 * @param leaseTime how long a replica's ownership lasts without renewal (it renews a third of it): the
 * streams of a replica that stopped without ending them end {@code failed/owner_lost} within about this
 * @param cancelTimeout how long a cancel for another replica's stream waits for that replica to carry it
 * out before it sets the state itself
 * @param replicaId this replica's name in Redis; empty for one made of the host name and a random part
 * @param keyPrefix prefix of every Redis key and channel
 */
@Validated
@ConfigurationProperties("scalpel.cluster")
public record ClusterProperties(@DefaultValue("memory") @NotNull Mode mode,
		@DefaultValue("10s") @DurationMin(millis = 300) @NotNull Duration leaseTime,
		@DefaultValue("2s") @DurationMin(millis = 1) @NotNull Duration cancelTimeout, @Nullable String replicaId,
		@DefaultValue("scalpel:") @NotNull String keyPrefix) {

	/** Where streams live. */
	public enum Mode {

		/** In this replica's memory only. */
		MEMORY,
		/** In this replica, shared through Redis with the others. */
		REDIS

	}

}
