package dev.scalpel.upstream;

import java.util.List;

import org.springframework.http.HttpStatus;

import dev.scalpel.system.ProblemAnswer;
import dev.scalpel.system.Problems;
import dev.scalpel.system.Problems.FieldProblem;

/** No configured provider serves the requested model. */
public final class ModelNotFound extends ProblemAnswer {

	private final String model;

	public ModelNotFound(String model) {
		super(HttpStatus.NOT_FOUND, Problems.withErrors(
				Problems.of(HttpStatus.NOT_FOUND, "model_not_found", "Model not found",
						"No provider serves the model '" + Problems.printable(model) + "'."),
				List.of(new FieldProblem("model", "is not served here"))), null);
		this.model = model;
	}

	public String model() {
		return this.model;
	}

}
