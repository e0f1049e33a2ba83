package dev.scalpel.support;

import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.context.annotation.Bean;

import dev.scalpel.upstream.ControlledTokenSource;

/** Adds the test-driven model {@code controlled} to the application. */
@TestConfiguration(proxyBeanMethods = false)
public class ControlledUpstream {

	@Bean
	ControlledTokenSource controlledTokenSource() {
		return new ControlledTokenSource();
	}

}
