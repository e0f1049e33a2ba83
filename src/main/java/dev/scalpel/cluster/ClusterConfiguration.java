package dev.scalpel.cluster;

import tools.jackson.databind.json.JsonMapper;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.data.redis.connection.lettuce.LettuceConnectionFactory;

import dev.scalpel.stream.SharedStreams;
import dev.scalpel.stream.StreamProperties;

/** Redis mode when {@code scalpel.cluster.mode=redis}; the {@code cluster} health indicator in both. */
@Configuration(proxyBeanMethods = false)
class ClusterConfiguration {

	@Bean
	@ConditionalOnProperty(name = "scalpel.cluster.mode", havingValue = "redis")
	RedisSharedStreams redisSharedStreams(LettuceConnectionFactory redis, ClusterProperties cluster,
			StreamProperties streams, JsonMapper json, RedisScripts scripts) {
		return new RedisSharedStreams(redis, cluster, json, scripts, streams.retention(), streams.maxEvents());
	}

	@Bean
	@ConditionalOnProperty(name = "scalpel.cluster.mode", havingValue = "redis")
	RedisScripts redisScripts() {
		return RedisScripts.load();
	}

	@Bean
	ClusterHealthIndicator clusterHealthIndicator(ClusterProperties cluster, ObjectProvider<SharedStreams> shared) {
		return new ClusterHealthIndicator(cluster, shared.getIfAvailable(() -> SharedStreams.NONE));
	}

}
