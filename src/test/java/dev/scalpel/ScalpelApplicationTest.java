package dev.scalpel;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.ResourceLock;
import org.junit.jupiter.api.parallel.Resources;

import static org.assertj.core.api.Assertions.assertThat;

/** The event loops default to one per core, and an explicit setting wins. */
@ResourceLock(Resources.SYSTEM_PROPERTIES)
class ScalpelApplicationTest {

	@Test
	void eventLoopsDefaultToOnePerCoreUnlessSet() {
		String before = System.getProperty(ScalpelApplication.IO_WORKER_COUNT);
		try {
			System.clearProperty(ScalpelApplication.IO_WORKER_COUNT);
			ScalpelApplication.eventLoopPerCore();
			assertThat(System.getProperty(ScalpelApplication.IO_WORKER_COUNT))
				.isEqualTo(Integer.toString(Runtime.getRuntime().availableProcessors()));
			System.setProperty(ScalpelApplication.IO_WORKER_COUNT, "7");
			ScalpelApplication.eventLoopPerCore();
			assertThat(System.getProperty(ScalpelApplication.IO_WORKER_COUNT)).isEqualTo("7");
		}
		finally {
			if (before == null) {
				System.clearProperty(ScalpelApplication.IO_WORKER_COUNT);
			}
			else {
				System.setProperty(ScalpelApplication.IO_WORKER_COUNT, before);
			}
		}
	}

}
