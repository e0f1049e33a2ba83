package dev.scalpel.upstream.fake;

import java.util.function.Supplier;

import org.jspecify.annotations.Nullable;

import org.springframework.test.context.DynamicPropertyRegistry;

/** Provider endpoints for a test's application context ({@code scalpel.providers.endpoints[n].*}). */
public final class Endpoints {

	private Endpoints() {
	}

	/**
	 * Registers endpoint {@code index}.
	 * @param type {@code openai} or {@code anthropic}
	 * @param baseUrl read when the context starts (a test server's URL is known only then)
	 * @param apiKey its key, or null for none
	 * @param models the models routed to it
	 */
	public static void register(DynamicPropertyRegistry registry, int index, String name, String type,
			Supplier<Object> baseUrl, @Nullable String apiKey, String... models) {
		String prefix = "scalpel.providers.endpoints[" + index + "].";
		registry.add(prefix + "name", () -> name);
		registry.add(prefix + "type", () -> type);
		registry.add(prefix + "base-url", baseUrl);
		if (apiKey != null) {
			registry.add(prefix + "api-key", () -> apiKey);
		}
		for (int i = 0; i < models.length; i++) {
			String model = models[i];
			registry.add(prefix + "models[" + i + "]", () -> model);
		}
	}

}
