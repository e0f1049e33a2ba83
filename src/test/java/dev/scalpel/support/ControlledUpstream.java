package dev.scalpel.support;

import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.context.annotation.Bean;

/** Adds the test-driven model {@code controlled} to the application. */
@TestConfiguration(proxyBeanMethods = false)
public class ControlledUpstream {

	@Bean
	FakeControlledTokenSource controlledTokenSource() {
		return new FakeControlledTokenSource();
	}

}
