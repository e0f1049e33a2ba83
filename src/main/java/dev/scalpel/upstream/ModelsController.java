package dev.scalpel.upstream;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RestController;

/**
 * {@code GET /v1/models}: every model routable without a prefix, in OpenAI's list shape so OpenAI
 * clients can read it; {@code owned_by} names the endpoint that serves it ({@code scalpel} for the
 * built-in model). Its errors are in OpenAI's shape, as the rest of the OpenAI door's.
 */
@RestController
class ModelsController {

	private final ModelRouter router;

	private final long created = Instant.now().getEpochSecond();

	ModelsController(ModelRouter router) {
		this.router = router;
	}

	@GetMapping("/v1/models")
	ModelList models() {
		List<ModelEntry> models = new ArrayList<>();
		for (Map.Entry<String, TokenSource> model : this.router.models().entrySet()) {
			TokenSource source = model.getValue();
			models.add(new ModelEntry(model.getKey(), "model", this.created,
					source.routesAnyModel() ? source.name() : "scalpel"));
		}
		return new ModelList("list", models);
	}

	/**
	 * {@code GET /v1/models/{model}} (the SDKs' {@code models.retrieve}): a listed model, or
	 * {@code <endpoint>/<model>} of an endpoint that routes any model; {@code 404} otherwise.
	 */
	@GetMapping("/v1/models/{*model}")
	ModelEntry model(@PathVariable String model) {
		String name = model.startsWith("/") ? model.substring(1) : model;
		TokenSource source = this.router.route(name).source();
		return new ModelEntry(name, "model", this.created, source.routesAnyModel() ? source.name() : "scalpel");
	}

	record ModelList(String object, List<ModelEntry> data) {
	}

	/** One model, as OpenAI describes models. */
	record ModelEntry(String id, String object, long created, String ownedBy) {
	}

}
