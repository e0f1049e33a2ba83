package dev.scalpel.cluster;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import dev.scalpel.support.TestRedis;

/** The streams contract in redis mode: streams start on one replica and are read through another. */
class RedisModeContractTest extends StreamsContract {

	private static TestRedis redis;

	private static Instance owner;

	private static Instance reader;

	@BeforeAll
	static void start() {
		redis = TestRedis.start();
		owner = replica("owner");
		reader = replica("reader");
	}

	private static Instance replica(String name) {
		return Instance.start("--scalpel.cluster.mode=redis", "--spring.data.redis.url=" + redis.url(),
				"--scalpel.cluster.replica-id=" + name, "--scalpel.cluster.lease-time=1500ms");
	}

	@AfterAll
	static void stop() {
		for (Instance instance : new Instance[] { owner, reader }) {
			if (instance != null) {
				instance.close();
			}
		}
		if (redis != null) {
			redis.close();
		}
	}

	@Override
	Instance owner() {
		return owner;
	}

	@Override
	Instance reader() {
		return reader;
	}

}
