package dev.scalpel.security;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.regex.Matcher;

import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.jspecify.annotations.Nullable;
import reactor.core.publisher.Mono;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.core.env.Environment;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.http.server.reactive.ServerHttpRequest;
import org.springframework.security.authentication.ReactiveAuthenticationManager;
import org.springframework.security.config.annotation.web.reactive.EnableWebFluxSecurity;
import org.springframework.security.config.observation.SecurityObservationSettings;
import org.springframework.security.config.web.server.SecurityWebFiltersOrder;
import org.springframework.security.config.web.server.ServerHttpSecurity;
import org.springframework.security.core.Authentication;
import org.springframework.security.core.AuthenticationException;
import org.springframework.security.authentication.BadCredentialsException;
import org.springframework.security.authentication.CredentialsExpiredException;
import org.springframework.security.web.server.SecurityWebFilterChain;
import org.springframework.security.web.server.authentication.AuthenticationWebFilter;
import org.springframework.security.web.server.context.NoOpServerSecurityContextRepository;
import org.springframework.security.web.server.header.ReferrerPolicyServerHttpHeadersWriter;
import org.springframework.security.web.server.savedrequest.NoOpServerRequestCache;
import org.springframework.security.web.server.util.matcher.ServerWebExchangeMatchers;
import org.springframework.security.web.server.firewall.ServerExchangeRejectedHandler;
import org.springframework.http.HttpStatus;
import org.springframework.web.server.WebFilter;

import dev.scalpel.system.ProblemAnswer;
import dev.scalpel.system.Problems;

import dev.scalpel.stream.AttachTokens;
import dev.scalpel.stream.Caller;

/**
 * The API's security, on Spring Security's WebFlux filter chain: API keys as {@code Authorization:
 * Bearer}, attach tokens as {@code ?token=} on the events endpoint only, every {@code /v1} path
 * closed without one when keys are configured, open (with a warning) when none are. No sessions, no
 * request cache, no CSRF (no cookies are used), security headers on every answer. Failures are
 * thrown as problems, rendered like every other error (OpenAI's shape on the OpenAI door).
 */
@Configuration(proxyBeanMethods = false)
@EnableWebFluxSecurity
class SecurityConfiguration {

	private static final Log logger = LogFactory.getLog(SecurityConfiguration.class);

	/** The events endpoint, the one place an attach token is accepted. */
	private static final java.util.regex.Pattern EVENTS = java.util.regex.Pattern.compile("/v1/streams/([^/]+)/events");

	/** The API documentation, served with headers that let Swagger UI's page run. */
	private static final String[] DOCS = { "/v3/api-docs", "/v3/api-docs/**", "/swagger-ui.html", "/swagger-ui/**",
			"/webjars/**" };

	/**
	 * No Micrometer observations from Spring Security: the one around the filter chain is held for the
	 * whole exchange, and an event stream's exchange lasts as long as the stream. With them every open
	 * stream kept five observations, their contexts and eight decorated filters: the {@code capacity}
	 * benchmark's heap histogram gave 54 KiB per idle stream, 49 without them (40 before the security
	 * chain). Refused keys are counted by Scalpel itself ({@code scalpel.streams.rejected{reason=unauthorized}}).
	 */
	@Bean
	SecurityObservationSettings securityObservationSettings() {
		return SecurityObservationSettings.noObservations();
	}

	@Bean
	ApiKeys apiKeys(SecurityProperties properties) {
		ApiKeys keys = new ApiKeys(properties);
		if (keys.enabled()) {
			logger.info(keys.size() + " API key(s) configured: every /v1 request needs one");
		}
		else {
			logger.warn("No API keys configured (scalpel.security.keys): the API is open to anyone who can reach it. "
					+ "Configure keys before exposing it beyond your machine (README, \"API keys\").");
		}
		return keys;
	}

	@Bean
	AttachTokens attachTokens(SecurityProperties properties, Environment environment) {
		String configured = properties.attachToken().secret();
		byte[] secret;
		if (configured != null && !configured.isBlank()) {
			secret = configured.getBytes(StandardCharsets.UTF_8);
			if (secret.length < 32) {
				throw new IllegalArgumentException("scalpel.security.attach-token.secret must be at least 32 characters");
			}
		}
		else {
			secret = new byte[32];
			new SecureRandom().nextBytes(secret);
			if ("redis".equalsIgnoreCase(environment.getProperty("scalpel.cluster.mode", "memory"))) {
				logger.warn("scalpel.security.attach-token.secret is not set: attach tokens work only on the replica that "
						+ "issued them. Set the same secret on every replica.");
			}
		}
		return new AttachTokens(secret, properties.attachToken().ttl(), Clock.systemUTC());
	}

	/** Checks presented credentials; being a bean, it also keeps Boot from creating a default user. */
	@Bean
	ReactiveAuthenticationManager apiKeyAuthentication(ApiKeys keys, AttachTokens tokens) {
		return authentication -> Mono.fromSupplier(() -> check(authentication, keys, tokens));
	}

	private static Authentication check(Authentication presented, ApiKeys keys, AttachTokens tokens) {
		if (presented instanceof Credentials.BearerKey bearer) {
			Caller caller = keys.authenticate(bearer.getCredentials());
			bearer.eraseCredentials();
			if (caller == null) {
				throw new BadCredentialsException("The API key is not valid.");
			}
			return new Credentials.Authenticated(caller, caller.admin() ? "ROLE_ADMIN" : "ROLE_USER");
		}
		if (presented instanceof Credentials.AttachToken token) {
			AttachTokens.Check check = tokens.check(token.getCredentials(), token.getPrincipal());
			if (check instanceof AttachTokens.Check.Valid valid) {
				// The token stands for its owner on this stream's events only: the token is read on no other path.
				// A key removed from the configuration takes its tokens with it.
				Caller owner = keys.named(valid.owner());
				if (owner == null) {
					throw new BadCredentialsException("The attach token is not valid for this stream.");
				}
				return new Credentials.Authenticated(new Caller(owner.owner(), false, Caller.Quota.NONE), "ROLE_ATTACH");
			}
			if (check instanceof AttachTokens.Check.Expired expired) {
				throw new CredentialsExpiredException("The attach token expired at " + expired.expiredAt()
						+ "; ask for a new one (POST /v1/streams/{id}/attach_token).");
			}
			throw new BadCredentialsException("The attach token is not valid for this stream.");
		}
		throw new BadCredentialsException("Unsupported credentials.");
	}

	/**
	 * Spring Security's firewall refuses paths with encoded dots, slashes or percent signs, and
	 * control characters in headers: with a problem detail rather than an empty {@code 400}.
	 */
	@Bean
	ServerExchangeRejectedHandler rejectedRequests() {
		return (exchange, rejected) -> Mono.error(new ProblemAnswer(HttpStatus.BAD_REQUEST,
				Problems.of(HttpStatus.BAD_REQUEST, "invalid_request", "Invalid request",
						"The request's path or headers hold characters this service refuses (encoded dots, slashes "
								+ "or percent signs, control characters)."),
				null));
	}

	/** Swagger UI and the OpenAPI document: open, with the default headers (its page runs scripts). */
	@Bean
	@Order(1)
	SecurityWebFilterChain documentation(ServerHttpSecurity http) {
		return common(http.securityMatcher(ServerWebExchangeMatchers.pathMatchers(DOCS)))
			.authorizeExchange(exchanges -> exchanges.anyExchange().permitAll())
			.build();
	}

	/** Everything else: the API. */
	@Bean
	@Order(2)
	SecurityWebFilterChain api(ServerHttpSecurity http, ApiKeys keys, ReactiveAuthenticationManager manager) {
		common(http).headers(headers -> headers
			// JSON and event streams only: nothing here is a page to frame or a script to run.
			.contentSecurityPolicy(csp -> csp.policyDirectives("default-src 'none'; frame-ancestors 'none'"))
			.referrerPolicy(referrer -> referrer.policy(ReferrerPolicyServerHttpHeadersWriter.ReferrerPolicy.NO_REFERRER)));
		if (!keys.enabled()) {
			return http.anonymous(anonymous -> anonymous.principal(Caller.OPEN))
				.authorizeExchange(exchanges -> exchanges.anyExchange().permitAll())
				.build();
		}
		AuthenticationWebFilter authentication = new AuthenticationWebFilter(manager);
		authentication.setServerAuthenticationConverter(exchange -> Mono.justOrEmpty(presented(exchange.getRequest())));
		authentication.setSecurityContextRepository(NoOpServerSecurityContextRepository.getInstance());
		authentication.setAuthenticationFailureHandler(
				(exchange, failure) -> Mono.error(unauthorized(failure)));
		return http.addFilterAt(authentication, SecurityWebFiltersOrder.AUTHENTICATION)
			.authorizeExchange(exchanges -> exchanges.pathMatchers("/v1/**").authenticated().anyExchange().permitAll())
			.build();
	}

	/** What every chain shares: stateless, no CSRF, no login pages, failures as problems. */
	private static ServerHttpSecurity common(ServerHttpSecurity http) {
		return http.csrf(ServerHttpSecurity.CsrfSpec::disable)
			.httpBasic(ServerHttpSecurity.HttpBasicSpec::disable)
			.formLogin(ServerHttpSecurity.FormLoginSpec::disable)
			.logout(ServerHttpSecurity.LogoutSpec::disable)
			// CORS is the filter below, ahead of this chain, which answers a refusal with a problem.
			.cors(ServerHttpSecurity.CorsSpec::disable)
			.requestCache(cache -> cache.requestCache(NoOpServerRequestCache.getInstance()))
			.securityContextRepository(NoOpServerSecurityContextRepository.getInstance())
			.exceptionHandling(handling -> handling
				.authenticationEntryPoint((exchange, failure) -> Mono.error(new Unauthorized(
						"A valid API key is required: send it as Authorization: Bearer <key>.", false)))
				.accessDeniedHandler((exchange, denied) -> Mono.error(new Forbidden("This key may not do this."))));
	}

	private static Unauthorized unauthorized(AuthenticationException failure) {
		return new Unauthorized(String.valueOf(failure.getMessage()), true);
	}

	/**
	 * The credentials a request presents: a bearer key, else an attach token on the events endpoint;
	 * null when it presents none (it is then anonymous, refused on {@code /v1}).
	 */
	static @Nullable Authentication presented(ServerHttpRequest request) {
		String authorization = request.getHeaders().getFirst(HttpHeaders.AUTHORIZATION);
		if (authorization != null) {
			// Any Authorization is checked: a malformed one is a 401, not a fall-through to the token.
			String[] parts = authorization.trim().split("\\s+", 2);
			return new Credentials.BearerKey(
					(parts.length == 2 && "bearer".equalsIgnoreCase(parts[0])) ? parts[1].trim() : "");
		}
		String token = request.getQueryParams().getFirst("token");
		if (token != null && request.getMethod() == HttpMethod.GET) {
			Matcher events = EVENTS.matcher(request.getPath().pathWithinApplication().value());
			if (events.matches()) {
				return new Credentials.AttachToken(token, events.group(1));
			}
		}
		return null;
	}

	/**
	 * CORS, ahead of the security chain (a preflight carries no credentials). Origins not allowed get
	 * a {@code 403} problem; with no origins configured nothing is added and browsers keep to the
	 * same origin.
	 */
	@Bean
	@Order(Ordered.HIGHEST_PRECEDENCE + 20)
	WebFilter corsFilter(SecurityProperties properties) {
		return new CorsFilter(properties.cors());
	}

}
