package dev.scalpel.stream;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.beans.factory.annotation.Value;

import dev.scalpel.slot.SlotPool;
import dev.scalpel.support.Await;
import dev.scalpel.support.StreamsClient;
import dev.scalpel.support.FakeControlledTokenSource;
import dev.scalpel.upstream.SimulatedTokenSource;

/**
 * The fixture of the end-to-end API tests: a client on the running server, and a clean state before
 * and after every test (no slot held, nobody queued, no upstream call open, every stream the client
 * started cancelled).
 */
abstract class ApiEndToEndTest {

	@Value("${local.server.port}")
	int port;

	@Autowired
	SlotPool slots;

	@Autowired
	FakeControlledTokenSource controlled;

	@Autowired
	SimulatedTokenSource simulated;

	StreamsClient client;

	@BeforeEach
	void startClean() {
		this.client = new StreamsClient(this.port);
		this.controlled.reset();
		Await.atMost(StreamsClient.TIMEOUT).until(() -> this.slots.inUse() == 0 && this.slots.queued() == 0);
	}

	@AfterEach
	void cancelLeftovers() {
		this.client.cancelAll();
		Await.atMost(StreamsClient.TIMEOUT)
			.until(() -> this.slots.inUse() == 0 && this.slots.queued() == 0 && this.controlled.open() == 0
					&& this.simulated.active() == 0);
	}

}
