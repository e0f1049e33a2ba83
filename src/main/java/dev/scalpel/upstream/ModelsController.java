package dev.scalpel.upstream;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * {@code GET /v1/models}: every model routable without a prefix, in OpenAI's list shape so OpenAI
 * clients can read it; {@code owned_by} names the endpoint that serves it ({@code scalpel} for the
 * built-in model).
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

	record ModelList(String object, List<ModelEntry> data) {
	}

	/** One model, as OpenAI describes models. */
	record ModelEntry(String id, String object, long created, String ownedBy) {
	}

}
