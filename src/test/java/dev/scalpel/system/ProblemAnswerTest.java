package dev.scalpel.system;

import java.io.IOException;

import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Mono;
import reactor.test.StepVerifier;

import org.springframework.http.HttpStatus;
import org.springframework.http.ProblemDetail;

import static org.assertj.core.api.Assertions.assertThat;

class ProblemAnswerTest {

	private static ProblemAnswer refused(@Nullable Throwable cause) {
		return new ProblemAnswer(HttpStatus.TOO_MANY_REQUESTS, ProblemDetail.forStatus(HttpStatus.TOO_MANY_REQUESTS),
				cause);
	}

	@Test
	void anAnswerHasNoStackTraceAndItsCauseKeepsItsOwn() {
		IOException cause = new IOException("upstream refused");
		ProblemAnswer answer = refused(cause);

		assertThat(answer.getStackTrace()).isEmpty();
		assertThat(answer.getCause()).isSameAs(cause);
		assertThat(cause.getStackTrace()).isNotEmpty();
		assertThat(answer.getStatusCode()).isEqualTo(HttpStatus.TOO_MANY_REQUESTS);
		assertThat(answer.getBody().getStatus()).isEqualTo(429);
	}

	@Test
	void reactorCheckpointsStillAttachTheirTracebackToIt() {
		// Spring's filter chain puts a checkpoint around each filter; an answer passes through them on its way
		// out, and the description of where it passed must still be there for whoever debugs a 5xx beside it.
		Mono<Void> failing = Mono.<Void>error(refused(null)).checkpoint("first filter").checkpoint("second filter");

		StepVerifier.create(failing).expectErrorSatisfies(error -> {
			assertThat(error).isInstanceOf(ProblemAnswer.class);
			assertThat(error.getStackTrace()).isEmpty();
			assertThat(error.getSuppressed()).singleElement()
				.satisfies(traceback -> assertThat(traceback.getMessage()).contains("first filter", "second filter"));
		}).verify();
	}

}
