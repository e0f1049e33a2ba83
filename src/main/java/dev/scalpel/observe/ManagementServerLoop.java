package dev.scalpel.observe;

import reactor.netty.resources.LoopResources;

import org.springframework.beans.factory.DisposableBean;
import org.springframework.boot.actuate.autoconfigure.web.ManagementContextConfiguration;
import org.springframework.boot.actuate.autoconfigure.web.ManagementContextType;
import org.springframework.boot.reactor.netty.NettyReactiveWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.context.annotation.Bean;

/**
 * The management server (Actuator on {@code management.server.port}: Kubernetes' probes, Prometheus'
 * scrapes) on an event loop of its own. By default Spring Boot runs it on Reactor Netty's shared loops,
 * the ones that carry every stream's tokens: when they are behind, a probe or a scrape waits in their
 * backlog. The {@code steady} benchmark saw scrapes unanswered for 4 to more than 10 s while a
 * thousand streams resumed after an idle spell (the request sat unread in the socket, {@code ss}
 * Recv-Q, while the shared loop served the streams), longer than Prometheus' default scrape timeout
 * and than the chart's probe timeouts. A loop of its own is a thread of its own, which the kernel
 * schedules beside the busy one: the stream loops lose nothing, and a probe is read at once.
 *
 * <p>Listed in {@code META-INF/spring/...ManagementContextConfiguration.imports}, so it configures only
 * the management server's child context, never the API's (the application's component scan leaves it
 * out). When the management port is the API's, there is no child context and nothing changes.
 */
@ManagementContextConfiguration(value = ManagementContextType.CHILD, proxyBeanMethods = false)
class ManagementServerLoop {

	/** The name prefix of the management server's thread: {@code management-http-epoll-1}. */
	private static final String THREAD_PREFIX = "management-http";

	@Bean
	Loop managementLoop() {
		return new Loop(LoopResources.create(THREAD_PREFIX, 1, true));
	}

	/**
	 * A factory customizer, not a {@code NettyServerCustomizer} bean: such a bean in this child context
	 * did not reach the management server (tried: its thread stayed a shared one), while the factory
	 * customizers of a context are applied to that context's server factory.
	 */
	@Bean
	WebServerFactoryCustomizer<NettyReactiveWebServerFactory> managementServerOnItsOwnLoop(Loop managementLoop) {
		return factory -> factory.addServerCustomizers(server -> server.runOn(managementLoop.resources()));
	}

	/** The loop, disposed with the management context (after its server has stopped). */
	record Loop(LoopResources resources) implements DisposableBean {

		@Override
		public void destroy() {
			this.resources.dispose();
		}

	}

}
