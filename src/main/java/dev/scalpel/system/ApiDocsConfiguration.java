package dev.scalpel.system;

import java.util.List;

import reactor.core.scheduler.Schedulers;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.server.WebFilter;

/**
 * springdoc builds {@code /v3/api-docs} by scanning the classpath and serves the Swagger UI from a
 * jar: blocking file reads that must not run on an event loop. Requests for them are handled on
 * the bounded elastic scheduler instead; every other request is untouched.
 */
@Configuration(proxyBeanMethods = false)
class ApiDocsConfiguration {

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
