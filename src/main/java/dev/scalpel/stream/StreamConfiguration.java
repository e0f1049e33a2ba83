package dev.scalpel.stream;

import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.function.Supplier;

import org.jspecify.annotations.Nullable;

import tools.jackson.databind.json.JsonMapper;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.context.annotation.Bean;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.http.HttpMethod;
import org.springframework.http.server.reactive.ServerHttpRequest;
import org.springframework.web.ErrorResponse;
import org.springframework.util.function.SingletonSupplier;
import org.springframework.web.server.WebFilter;
import org.springframework.context.annotation.Configuration;

import dev.scalpel.system.EventLoopTimers;
import dev.scalpel.system.LimitProperties;
import dev.scalpel.slot.QueueProperties;
import dev.scalpel.slot.SlotPool;
import dev.scalpel.upstream.ModelRouter;
import dev.scalpel.upstream.ProviderProperties;
import dev.scalpel.upstream.UpstreamProperties;
import dev.scalpel.upstream.UpstreamUnavailable;

/** The stream core on its single-replica registry, and the counting of refused starts. */
@Configuration(proxyBeanMethods = false)
class StreamConfiguration {

	@Bean
	StreamCore streamCore(SlotPool slots, ModelRouter router, StreamProperties streams, UpstreamProperties upstream,
			LimitProperties limits, ProviderProperties providers, QueueProperties queue, JsonMapper json,
			ObjectProvider<StreamObserver> observers, ObjectProvider<SharedStreams> shared) {
		return StreamCore.of(
				new StreamCore.Settings(streams, upstream, limits, providers.defaultModel(), queue.retryAfter()), slots,
				router, new InMemoryStreamRegistry(streams.retention(), streams.retentionBytes()),
				shared.getIfAvailable(() -> SharedStreams.NONE), composite(observers), json, Clock.systemUTC(),
				EventLoopTimers.scheduler());
	}

	@Bean
	StreamManager streamManager(StreamCore core) {
		return core.manager();
	}

	@Bean
	StreamDirectory streamDirectory(StreamCore core) {
		return core.directory();
	}

	/**
	 * Counts refused starts by the status they were answered with, wherever in the chain they were
	 * refused (body size, content type, JSON, validation, model, capacity, shutdown).
	 */
	@Bean
	@Order(Ordered.HIGHEST_PRECEDENCE)
	WebFilter startRejections(ObjectProvider<StreamObserver> observers) {
		// Resolved at the first refusal, not at each: asking the bean factory is costly on the event loop.
		Supplier<StreamObserver> observer = SingletonSupplier.of(() -> composite(observers));
		return (exchange, chain) -> {
			ServerHttpRequest request = exchange.getRequest();
			String path = request.getPath().value();
			if (request.getMethod() != HttpMethod.POST
					|| !("/v1/streams".equals(path) || "/v1/chat/completions".equals(path))) {
				return chain.filter(exchange);
			}
			return chain.filter(exchange).doOnError(failure -> {
				int status = (failure instanceof ErrorResponse error) ? error.getStatusCode().value() : 500;
				StreamObserver.Rejection rejection = (failure instanceof QuotaExceeded)
						? StreamObserver.Rejection.QUOTA_EXCEEDED
						: (status == 429) ? StreamObserver.Rejection.OVERLOADED
						: (status == 401) ? StreamObserver.Rejection.UNAUTHORIZED
						: (failure instanceof UpstreamUnavailable) ? StreamObserver.Rejection.UPSTREAM_UNAVAILABLE
						: (failure instanceof ClusterUnavailable) ? StreamObserver.Rejection.CLUSTER_UNAVAILABLE
						: (status == 503) ? StreamObserver.Rejection.SHUTTING_DOWN
								: (status >= 400 && status < 500) ? StreamObserver.Rejection.INVALID : null;
				if (rejection != null) {
					observer.get().rejected(rejection);
				}
			});
		};
	}

	private static StreamObserver composite(ObjectProvider<StreamObserver> observers) {
		return new CompositeObserver(observers.orderedStream().toList());
	}

	/** Tells every observer, in order. */
	private record CompositeObserver(List<StreamObserver> observers) implements StreamObserver {

		@Override
		public void created(String id, String model, boolean background) {
			for (StreamObserver observer : this.observers) {
				observer.created(id, model, background);
			}
		}

		@Override
		public void rejected(Rejection reason) {
			for (StreamObserver observer : this.observers) {
				observer.rejected(reason);
			}
		}

		@Override
		public void started(String id, Duration waited) {
			for (StreamObserver observer : this.observers) {
				observer.started(id, waited);
			}
		}

		@Override
		public void firstToken(String id, Duration sinceAsked) {
			for (StreamObserver observer : this.observers) {
				observer.firstToken(id, sinceAsked);
			}
		}

		@Override
		public void token() {
			for (StreamObserver observer : this.observers) {
				observer.token();
			}
		}

		@Override
		public void ended(String id, FinishReason reason, Duration lifetime, @Nullable Duration ran,
				@Nullable Duration slotRelease) {
			for (StreamObserver observer : this.observers) {
				observer.ended(id, reason, lifetime, ran, slotRelease);
			}
		}

		@Override
		public void listenerDropped(String id) {
			for (StreamObserver observer : this.observers) {
				observer.listenerDropped(id);
			}
		}

	}

}
