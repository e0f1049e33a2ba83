package dev.scalpel.system;

import java.time.Duration;

import org.junit.jupiter.api.Test;
import reactor.blockhound.BlockingOperationError;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;
import reactor.test.StepVerifier;

/**
 * Proves that BlockHound guards this test JVM (installed by blockhound-junit-platform), so that a
 * blocking call on a Reactor thread anywhere in the suite fails its test.
 */
class BlockHoundInstalledTest {

	@Test
	void blockingCallOnAReactorThreadFails() {
		Mono<String> sleepy = Mono.fromCallable(() -> {
			Thread.sleep(1);
			return "slept";
		}).subscribeOn(Schedulers.parallel());
		StepVerifier.create(sleepy).expectError(BlockingOperationError.class).verify(Duration.ofSeconds(5));
	}

}
