package dev.scalpel.system;

import java.util.List;

import io.swagger.v3.oas.models.Components;
import io.swagger.v3.oas.models.OpenAPI;
import io.swagger.v3.oas.models.info.Info;
import io.swagger.v3.oas.models.security.SecurityRequirement;
import io.swagger.v3.oas.models.security.SecurityScheme;
import io.swagger.v3.oas.models.servers.Server;
import reactor.core.scheduler.Schedulers;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.server.WebFilter;

/**
 * The OpenAPI document's description, and: springdoc builds {@code /v3/api-docs} by scanning the classpath and serves the Swagger UI from a
 * jar: blocking file reads that must not run on an event loop. Requests for them are handled on
 * the bounded elastic scheduler instead; every other request is untouched.
 */
@Configuration(proxyBeanMethods = false)
class ApiDocsConfiguration {

	/**
	 * The API's description: its title, its server, and the API key every operation takes as a bearer
	 * token. The server is the document's own origin ({@code /}): springdoc would otherwise generate it
	 * from the request's URL, query string included, and so echo whatever a caller put there into
	 * the document (the hostile-input property test caught it echoing another key's stream id that the
	 * caller had sent).
	 */
	@Bean
	OpenAPI scalpelOpenApi() {
		return new OpenAPI()
			.info(new Info().title("Scalpel").description("LLM generations as managed streams (API.md)."))
			.servers(List.of(new Server().url("/").description("This service")))
			.components(new Components().addSecuritySchemes("apiKey", new SecurityScheme().type(SecurityScheme.Type.HTTP)
				.scheme("bearer")
				.description("An API key of the service (scalpel.security.keys); not needed when none is configured.")))
			.addSecurityItem(new SecurityRequirement().addList("apiKey"));
	}

	@Bean
	WebFilter apiDocsOffTheEventLoop(@Value("${springdoc.api-docs.path:/v3/api-docs}") String apiDocs,
			@Value("${springdoc.swagger-ui.path:/swagger-ui.html}") String swaggerUi) {
		List<String> prefixes = List.of(apiDocs, swaggerUi, "/swagger-ui/", "/webjars/");
		return (exchange, chain) -> {
			String path = exchange.getRequest().getPath().pathWithinApplication().value();
			for (String prefix : prefixes) {
				if (path.startsWith(prefix)) {
					return chain.filter(exchange).subscribeOn(Schedulers.boundedElastic());
				}
			}
			return chain.filter(exchange);
		};
	}

}
