package dev.scalpel.upstream;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Routes a model name to the {@link TokenSource} that serves it. A name listed by a source goes to
 * the first source that lists it (the order of the sources is the order of precedence); otherwise
 * {@code <endpoint>/<model>} goes to the endpoint of that name, which is sent {@code <model>}. An
 * exact name wins over a prefix, so model names with a slash (such as {@code meta-llama/Llama-3.1-8B}
 * on vLLM) can be listed as they are.
 */
public final class ModelRouter {

	private final Map<String, TokenSource> byModel = new LinkedHashMap<>();

	private final Map<String, TokenSource> byName = new LinkedHashMap<>();

	public ModelRouter(List<? extends TokenSource> sources) {
		for (TokenSource source : sources) {
			for (String model : source.models()) {
				this.byModel.putIfAbsent(model, source);
			}
			if (source.routesAnyModel() && this.byName.putIfAbsent(source.name(), source) != null) {
				throw new IllegalArgumentException("Two endpoints are named '" + source.name() + "'");
			}
		}
	}

	/** Where a request goes, and the model name to send there. */
	public record Route(TokenSource source, String upstreamModel) {
	}

	/** The route for the model; {@link ModelNotFound} when none serves it. */
	public Route route(String model) {
		TokenSource source = this.byModel.get(model);
		if (source != null) {
			return new Route(source, model);
		}
		int slash = model.indexOf('/');
		if (slash > 0 && slash < model.length() - 1) {
			TokenSource named = this.byName.get(model.substring(0, slash));
			if (named != null) {
				return new Route(named, model.substring(slash + 1));
			}
		}
		throw new ModelNotFound(model);
	}

	/** Every model name routable without a prefix, with the source that serves it, in order. */
	public Map<String, TokenSource> models() {
		return Collections.unmodifiableMap(this.byModel);
	}

	/** The names {@code <name>/<model>} routes by. */
	public Set<String> endpoints() {
		return Collections.unmodifiableSet(this.byName.keySet());
	}

}
