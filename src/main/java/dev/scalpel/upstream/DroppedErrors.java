package dev.scalpel.upstream;

import java.io.IOException;

import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import reactor.core.publisher.Hooks;

/**
 * Reactor's handler of errors that arrive after their subscriber has gone ("dropped"): by default it
 * logs each at ERROR. Closing an upstream channel that a cancelled call no longer reads (see
 * {@link CallChannel}) makes the connection's own late error, an I/O exception or Spring's "body
 * released due to cancellation", arrive there: expected, so at DEBUG. Every other dropped error is
 * still logged at ERROR. The hook is process-wide (Reactor has no other kind); it is removed when the
 * application stops.
 */
final class DroppedErrors implements AutoCloseable {

	private static final Log logger = LogFactory.getLog(DroppedErrors.class);

	DroppedErrors() {
		Hooks.onErrorDropped(DroppedErrors::dropped);
	}

	static void dropped(Throwable error) {
		if (afterCancel(error)) {
			logger.debug("Dropped after a cancelled upstream call: " + error);
		}
		else {
			logger.error("Operator called default onErrorDropped", error);
		}
	}

	private static boolean afterCancel(Throwable error) {
		String message = String.valueOf(error.getMessage());
		return error instanceof IOException || (error instanceof IllegalStateException
				&& (message.contains("released already due to cancellation")
						|| message.contains("Rejecting additional inbound receiver")));
	}

	@Override
	public void close() {
		Hooks.resetOnErrorDropped();
	}

}
