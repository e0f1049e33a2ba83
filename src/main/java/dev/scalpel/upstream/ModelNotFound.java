package dev.scalpel.upstream;

/** No configured provider serves the requested model. */
public final class ModelNotFound extends RuntimeException {

	private final String model;

	public ModelNotFound(String model) {
		super("model '" + model + "' is not served here", null, false, false);
		this.model = model;
	}

	public String model() {
		return this.model;
	}

}
