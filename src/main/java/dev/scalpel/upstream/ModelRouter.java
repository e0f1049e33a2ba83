package dev.scalpel.upstream;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Routes a model name to the {@link TokenSource} that serves it. The first source that names a
 * model wins, so the order of the sources is the order of precedence.
 */
public final class ModelRouter {

	private final Map<String, TokenSource> byModel = new LinkedHashMap<>();

	public ModelRouter(List<TokenSource> sources) {
		for (TokenSource source : sources) {
			for (String model : source.models()) {
				this.byModel.putIfAbsent(model, source);
			}
		}
	}

	/** The source for the model; {@link ModelNotFound} when none serves it. */
	public TokenSource route(String model) {
		TokenSource source = this.byModel.get(model);
		if (source == null) {
			throw new ModelNotFound(model);
		}
		return source;
	}

	/** Every routable model name. */
	public Set<String> models() {
		return Set.copyOf(this.byModel.keySet());
	}

}
