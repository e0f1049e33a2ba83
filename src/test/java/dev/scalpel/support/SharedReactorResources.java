package dev.scalpel.support;

import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.context.annotation.Bean;
import org.springframework.http.client.ReactorResourceFactory;

/**
 * Every application context a test JVM starts runs its servers and clients on Reactor Netty's
 * global resources, as the application does in production. Spring's {@link ReactorResourceFactory}
 * disposes those global resources when its context closes: in production that is the end of the
 * process, but in a test JVM it closed every other cached context's server (their ports refused
 * connections from then on, and requests in flight on the old loops never completed), and each
 * close waited out a 2 s quiet period. Here a closing context leaves the global resources to the
 * others; they end with the JVM.
 */
@AutoConfiguration(beforeName = {
		"org.springframework.boot.reactor.netty.autoconfigure.NettyReactiveWebServerAutoConfiguration",
		"org.springframework.boot.reactor.netty.autoconfigure.actuate.web.server.NettyReactiveManagementContextAutoConfiguration",
		"org.springframework.boot.http.client.autoconfigure.reactive.ReactiveHttpClientAutoConfiguration" })
public class SharedReactorResources {

	@Bean
	ReactorResourceFactory reactorResourceFactory() {
		return new ReactorResourceFactory() {

			@Override
			public void stop() {
				// The global resources belong to every context of this JVM, not to the closing one.
			}

		};
	}

}
