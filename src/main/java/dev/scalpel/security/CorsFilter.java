package dev.scalpel.security;

import java.util.List;

import org.jspecify.annotations.Nullable;
import reactor.core.publisher.Mono;

import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.http.HttpStatus;
import org.springframework.http.server.reactive.ServerHttpRequest;
import org.springframework.http.server.reactive.ServerHttpResponse;
import org.springframework.web.cors.CorsConfiguration;
import org.springframework.web.cors.reactive.CorsUtils;
import org.springframework.web.cors.reactive.DefaultCorsProcessor;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;

import dev.scalpel.system.ProblemAnswer;
import dev.scalpel.system.Problems;

/**
 * Spring's CORS processing for the API, with one difference from Spring's {@code CorsWebFilter}: a
 * request from an origin that is not allowed gets a {@code 403} problem detail instead of an empty
 * {@code 403}. With no allowed origins configured, it does nothing.
 */
final class CorsFilter implements WebFilter {

	private final @Nullable CorsConfiguration configuration;

	private final Processor processor = new Processor();

	CorsFilter(SecurityProperties.Cors cors) {
		if (cors.allowedOrigins().isEmpty()) {
			this.configuration = null;
			return;
		}
		CorsConfiguration configuration = new CorsConfiguration();
		configuration.setAllowedOrigins(cors.allowedOrigins());
		configuration.setAllowedMethods(List.of(HttpMethod.GET.name(), HttpMethod.POST.name()));
		configuration.setAllowedHeaders(List.of(HttpHeaders.AUTHORIZATION, HttpHeaders.CONTENT_TYPE, HttpHeaders.ACCEPT,
				"Last-Event-ID"));
		configuration.setExposedHeaders(List.of("X-Stream-Id", "X-Attach-Token", HttpHeaders.LOCATION,
				HttpHeaders.RETRY_AFTER));
		// Keys travel in a header, never in cookies.
		configuration.setAllowCredentials(false);
		configuration.setMaxAge(cors.maxAge());
		this.configuration = configuration;
	}

	@Override
	public Mono<Void> filter(ServerWebExchange exchange, WebFilterChain chain) {
		CorsConfiguration configuration = this.configuration;
		ServerHttpRequest request = exchange.getRequest();
		if (configuration == null || request.getHeaders().getOrigin() == null) {
			return chain.filter(exchange);
		}
		if (request.getURI().getHost() == null) {
			// Spring cannot compare an origin with a request of no host (found by the hostile-input test:
			// it throws); such a request is neither same-origin nor a call a browser makes.
			return Mono.error(new ProblemAnswer(HttpStatus.BAD_REQUEST, Problems.of(HttpStatus.BAD_REQUEST,
					"invalid_request", "Invalid request", "A request with an Origin needs a valid Host."), null));
		}
		if (!CorsUtils.isCorsRequest(request)) {
			return chain.filter(exchange);
		}
		if (!this.processor.process(configuration, exchange)) {
			return Mono.error(new Forbidden("Cross-origin requests from this origin are not allowed."));
		}
		return CorsUtils.isPreFlightRequest(request) ? Mono.empty() : chain.filter(exchange);
	}

	/** Leaves the refusal to the filter, which answers it with a problem. */
	private static final class Processor extends DefaultCorsProcessor {

		@Override
		protected void rejectRequest(ServerHttpResponse response) {
			response.setStatusCode(HttpStatus.FORBIDDEN);
		}

	}

}
