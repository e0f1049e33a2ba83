package dev.scalpel.system;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.jackson.autoconfigure.JsonMapperBuilderCustomizer;
import org.springframework.boot.http.codec.CodecCustomizer;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Scope;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.web.server.WebFilter;

import reactor.core.publisher.Mono;
import tools.jackson.core.StreamReadConstraints;
import tools.jackson.core.StreamReadFeature;
import tools.jackson.core.json.JsonFactory;
import tools.jackson.databind.cfg.CoercionAction;
import tools.jackson.databind.cfg.CoercionInputShape;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.type.LogicalType;


/**
 * Bounds on what a request may make the service read: the body size (checked from
 * {@code Content-Length} before reading, and by the codecs while reading) and Jackson's read
 * constraints (nesting depth, number and string lengths).
 */
@Configuration(proxyBeanMethods = false)
class RequestLimits {

	/** Longest number literal accepted; nothing in the API needs more. */
	static final int MAX_NUMBER_LENGTH = 64;

	/** Longest JSON property name accepted. */
	static final int MAX_NAME_LENGTH = 1024;

	/**
	 * Boot builds its {@code JsonMapper} from this builder when one is defined; Jackson 3 fixes read
	 * constraints in the factory, which a {@link JsonMapperBuilderCustomizer} cannot replace, so the
	 * builder is made here and Boot's customizers (the {@code spring.jackson.*} properties) applied.
	 */
	@Bean
	@Scope("prototype")
	JsonMapper.Builder jsonMapperBuilder(LimitProperties limits, ObjectProvider<JsonMapperBuilderCustomizer> customizers) {
		int bodyBytes = (int) Math.min(limits.maxBodySize().toBytes(), Integer.MAX_VALUE);
		StreamReadConstraints constraints = StreamReadConstraints.builder()
			.maxNestingDepth(limits.maxJsonDepth())
			.maxNumberLength(MAX_NUMBER_LENGTH)
			.maxNameLength(MAX_NAME_LENGTH)
			.maxStringLength(bodyBytes)
			.maxDocumentLength(bodyBytes)
			.build();
		JsonMapper.Builder builder = JsonMapper.builder(JsonFactory.builder()
				.streamReadConstraints(constraints)
				// {"prompt":"a","prompt":"b"} is refused rather than silently taking the last value.
				.enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
				.build())
			// Strict types for strings too: 42 or true is not a prompt, a role or a model name.
			// (spring.jackson.mapper.allow-coercion-of-scalars=false only covers numbers and booleans.)
			.withCoercionConfig(LogicalType.Textual, coercion -> coercion
				.setCoercion(CoercionInputShape.Integer, CoercionAction.Fail)
				.setCoercion(CoercionInputShape.Float, CoercionAction.Fail)
				.setCoercion(CoercionInputShape.Boolean, CoercionAction.Fail));
		customizers.orderedStream().forEach(customizer -> customizer.customize(builder));
		return builder;
	}

	@Bean
	CodecCustomizer bodySizeCodecCustomizer(LimitProperties limits) {
		int bodyBytes = (int) Math.min(limits.maxBodySize().toBytes(), Integer.MAX_VALUE);
		return configurer -> configurer.defaultCodecs().maxInMemorySize(bodyBytes);
	}

	/** Refuses a declared body over the limit before a byte of it is read. */
	@Bean
	@Order(Ordered.HIGHEST_PRECEDENCE + 10)
	WebFilter bodySizeFilter(LimitProperties limits) {
		long max = limits.maxBodySize().toBytes();
		return (exchange, chain) -> {
			long length = exchange.getRequest().getHeaders().getContentLength();
			if (length > max) {
				return Mono.error(new RequestTooLarge(limits.maxBodySize()));
			}
			return chain.filter(exchange);
		};
	}

}
