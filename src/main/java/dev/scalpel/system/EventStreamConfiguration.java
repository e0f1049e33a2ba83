package dev.scalpel.system;

import org.springframework.boot.http.codec.CodecCustomizer;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.web.server.WebFilter;

/** The writer of event-stream bodies and the filter that lets go of listeners whose answer was never read. */
@Configuration(proxyBeanMethods = false)
class EventStreamConfiguration {

	/** A listener whose answer was never written leaves when its exchange ends ({@link UnreadListeners}). */
	@Bean
	@Order(Ordered.HIGHEST_PRECEDENCE + 30)
	WebFilter unreadListeners() {
		return UnreadListeners.filter();
	}

	/** Event streams are written as ready SSE frames ({@link EventStream}). */
	@Bean
	CodecCustomizer eventStreamWriter() {
		return codecs -> codecs.customCodecs().register(new EventStream.Writer());
	}

}
