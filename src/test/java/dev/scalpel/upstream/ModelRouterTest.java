package dev.scalpel.upstream;

import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;
import reactor.core.publisher.Flux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatExceptionOfType;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

class ModelRouterTest {

	private final TokenSource simulated = source("simulated", false, "simulated");

	private final TokenSource openai = source("openai", true, "gpt-4.1-mini", "shared");

	private final TokenSource vllm = source("vllm", true, "meta-llama/Llama-3.1-8B-Instruct", "shared");

	private final ModelRouter router = new ModelRouter(List.of(this.simulated, this.openai, this.vllm));

	@Test
	void aListedModelGoesToItsEndpointUnchanged() {
		assertThat(this.router.route("gpt-4.1-mini")).isEqualTo(new ModelRouter.Route(this.openai, "gpt-4.1-mini"));
		assertThat(this.router.route("simulated")).isEqualTo(new ModelRouter.Route(this.simulated, "simulated"));
	}

	@Test
	void aModelListedTwiceGoesToTheFirstEndpointThatListsIt() {
		assertThat(this.router.route("shared").source()).isSameAs(this.openai);
	}

	@Test
	void theEndpointPrefixRoutesExplicitlyAndSendsTheRest() {
		assertThat(this.router.route("vllm/shared")).isEqualTo(new ModelRouter.Route(this.vllm, "shared"));
		assertThat(this.router.route("openai/gpt-5")).isEqualTo(new ModelRouter.Route(this.openai, "gpt-5"));
		assertThat(this.router.route("openai/org/model")).isEqualTo(new ModelRouter.Route(this.openai, "org/model"));
	}

	@Test
	void aListedNameWithASlashWinsOverThePrefix() {
		TokenSource meta = source("meta-llama", true);
		ModelRouter router = new ModelRouter(List.of(meta, this.vllm));
		assertThat(router.route("meta-llama/Llama-3.1-8B-Instruct").source()).isSameAs(this.vllm);
		assertThat(router.route("meta-llama/other").source()).isSameAs(meta);
	}

	@Test
	void unknownModelsAndPrefixesAreNotFound() {
		for (String model : List.of("gpt-5", "nobody/gpt-5", "openai/", "/gpt-4.1-mini", "simulated/simulated")) {
			assertThatExceptionOfType(ModelNotFound.class).as(model).isThrownBy(() -> this.router.route(model));
		}
	}

	@Test
	void theModelListKeepsConfiguredOrder() {
		assertThat(this.router.models().keySet()).containsExactly("simulated", "gpt-4.1-mini", "shared",
				"meta-llama/Llama-3.1-8B-Instruct");
		assertThat(this.router.endpoints()).containsExactly("openai", "vllm");
	}

	@Test
	void twoEndpointsMayNotShareAName() {
		assertThatIllegalArgumentException()
			.isThrownBy(() -> new ModelRouter(List.of(this.openai, source("openai", true, "x"))))
			.withMessageContaining("'openai'");
	}

	private static TokenSource source(String name, boolean remote, String... models) {
		return new TokenSource() {

			@Override
			public String name() {
				return name;
			}

			@Override
			public Set<String> models() {
				return new java.util.LinkedHashSet<>(List.of(models));
			}

			@Override
			public boolean routesAnyModel() {
				return remote;
			}

			@Override
			public Flux<Chunk> generate(GenerationRequest request) {
				return Flux.empty();
			}

			@Override
			public String toString() {
				return name;
			}

		};
	}

}
