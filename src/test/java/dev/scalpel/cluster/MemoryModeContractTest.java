package dev.scalpel.cluster;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** The streams contract in memory mode: one instance starts, reads and cancels. */
class MemoryModeContractTest extends StreamsContract {

	private static Instance instance;

	@BeforeAll
	static void start() {
		instance = Instance.start();
	}

	@AfterAll
	static void stop() {
		if (instance != null) {
			instance.close();
		}
	}

	@Override
	Instance owner() {
		return instance;
	}

	@Override
	Instance reader() {
		return instance;
	}

}
