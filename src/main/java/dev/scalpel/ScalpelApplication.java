package dev.scalpel;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.properties.ConfigurationPropertiesScan;

/** Scalpel: LLM generations as managed, cancellable streams with leak-free slots. */
@SpringBootApplication(proxyBeanMethods = false)
@ConfigurationPropertiesScan
public class ScalpelApplication {

	public static void main(String[] args) {
		SpringApplication.run(ScalpelApplication.class, args);
	}

}
