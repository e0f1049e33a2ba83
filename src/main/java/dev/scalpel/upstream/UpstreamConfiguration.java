package dev.scalpel.upstream;

import java.util.List;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** The built-in model and the router over every {@link TokenSource} bean. */
@Configuration(proxyBeanMethods = false)
class UpstreamConfiguration {

	@Bean
	SimulatedTokenSource simulatedTokenSource(ProviderProperties providers) {
		return new SimulatedTokenSource(providers.simulated());
	}

	@Bean
	ModelRouter modelRouter(List<TokenSource> sources) {
		return new ModelRouter(sources);
	}

}
