package dev.scalpel.upstream;

import java.io.IOException;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;

import dev.scalpel.support.Logs;

import static org.assertj.core.api.Assertions.assertThat;

@ExtendWith(OutputCaptureExtension.class)
class DroppedErrorsTest {

	@Test
	void errorsExpectedAfterACancelledCallAreNotLoggedAsErrors(CapturedOutput output) {
		DroppedErrors.dropped(new IOException("Connection prematurely closed DURING response"));
		DroppedErrors.dropped(new IllegalStateException(
				"The client response body has been released already due to cancellation."));
		DroppedErrors.dropped(new IllegalStateException("Rejecting additional inbound receiver. State=[]"));

		assertThat(Logs.written(output)).doesNotContain("ERROR");
	}

	@Test
	void anyOtherDroppedErrorIsStillLoggedAsAnError(CapturedOutput output) {
		DroppedErrors.dropped(new IllegalArgumentException("something unexpected"));

		assertThat(Logs.written(output)).contains("ERROR").contains("something unexpected");
	}

}
