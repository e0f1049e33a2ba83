package dev.scalpel.upstream;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.github.resilience4j.circuitbreaker.CircuitBreakerRegistry;
import io.github.resilience4j.micrometer.tagged.TaggedCircuitBreakerMetrics;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.netty.channel.ChannelOption;
import reactor.netty.http.client.HttpClient;
import reactor.netty.resources.ConnectionProvider;
import tools.jackson.core.json.JsonFactory;
import tools.jackson.core.util.JsonRecyclerPools;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.http.client.reactive.ReactorClientHttpConnector;
import org.springframework.web.reactive.function.client.WebClient;

import dev.scalpel.system.EventLoopTimers;

/** The built-in model, the configured endpoints, and the router over all of them. */
@Configuration(proxyBeanMethods = false)
class UpstreamConfiguration {

	@Bean
	SimulatedTokenSource simulatedTokenSource(ProviderProperties providers) {
		return new SimulatedTokenSource(providers.simulated());
	}

	/**
	 * Connections to providers. The slot pool already bounds concurrent calls, so the pool sets no
	 * second, smaller bound of its own; idle keep-alive connections are closed after a while, and
	 * all of them when the application stops.
	 */
	@Bean(destroyMethod = "dispose")
	ConnectionProvider upstreamConnections(UpstreamProperties upstream) {
		return ConnectionProvider.builder("scalpel-upstream")
			.maxConnections(100_000)
			.pendingAcquireMaxCount(-1)
			.pendingAcquireTimeout(upstream.connectTimeout())
			.maxIdleTime(upstream.idleConnectionTime())
			.evictInBackground(upstream.idleConnectionTime())
			.build();
	}

	@Bean
	DroppedErrors upstreamDroppedErrors() {
		return new DroppedErrors();
	}

	@Bean
	CircuitBreakerRegistry upstreamCircuitBreakers(UpstreamProperties upstream) {
		return CircuitBreakerRegistry.of(circuitBreakerConfig(upstream.circuitBreaker()));
	}

	@Bean
	UpstreamEndpoints upstreamEndpoints(ProviderProperties providers, UpstreamProperties upstream,
			ConnectionProvider upstreamConnections, CircuitBreakerRegistry upstreamCircuitBreakers,
			WebClient.Builder webClients) {
		WebClient client = webClient(webClients, upstreamConnections, upstream);
		// Every chunk of every stream is parsed on an event loop: a thread-local buffer pool suits those
		// few long-lived threads better than Jackson's default shared, concurrent one.
		JsonMapper json = JsonMapper.builder(JsonFactory.builder().recyclerPool(JsonRecyclerPools.threadLocalPool()).build())
			.build();
		List<RemoteTokenSource> sources = new ArrayList<>();
		for (ProviderProperties.Endpoint endpoint : providers.endpoints()) {
			sources.add(new RemoteTokenSource(endpoint, client, json, upstream,
					upstreamCircuitBreakers.circuitBreaker(endpoint.name()), EventLoopTimers.scheduler()));
		}
		return new UpstreamEndpoints(sources);
	}

	@Bean
	MeterBinder upstreamCircuitBreakerMetrics(CircuitBreakerRegistry upstreamCircuitBreakers) {
		return TaggedCircuitBreakerMetrics.ofCircuitBreakerRegistry(upstreamCircuitBreakers)::bindTo;
	}

	@Bean
	ModelRouter modelRouter(List<TokenSource> builtIn, UpstreamEndpoints endpoints) {
		List<TokenSource> sources = new ArrayList<>(builtIn);
		sources.addAll(endpoints.sources());
		return new ModelRouter(sources);
	}

	/** A client for streaming calls to providers, whose connections close when a call is cancelled. */
	static WebClient webClient(WebClient.Builder builder, ConnectionProvider connections, UpstreamProperties upstream) {
		HttpClient http = HttpClient.create(connections)
			.option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE,
					upstream.connectTimeout().toMillis()))
			.doOnChannelInit((observer, channel, address) -> CallChannel.register(observer.currentContext(), channel))
			.doOnRequest((request, connection) -> CallChannel.register(request.currentContextView(), connection.channel()));
		return builder.clientConnector(new ReactorClientHttpConnector(http))
			.codecs(codecs -> codecs.defaultCodecs().maxInMemorySize((int) upstream.maxLineSize().toBytes()))
			.build();
	}

	static CircuitBreakerConfig circuitBreakerConfig(UpstreamProperties.CircuitBreaker breaker) {
		return CircuitBreakerConfig.custom()
			.slidingWindowType(CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
			.slidingWindowSize(breaker.slidingWindowSize())
			.minimumNumberOfCalls(breaker.minimumNumberOfCalls())
			.failureRateThreshold(breaker.failureRateThreshold())
			.waitDurationInOpenState(breaker.waitDurationInOpenState())
			.permittedNumberOfCallsInHalfOpenState(breaker.permittedCallsInHalfOpenState())
			// A generation is long by nature: never judge one by its duration.
			.slowCallRateThreshold(100)
			.slowCallDurationThreshold(Duration.ofDays(365))
			.recordException(failure -> !(failure instanceof UpstreamFailure upstream) || upstream.countsAsFailure())
			.writableStackTraceEnabled(false)
			.build();
	}

}
