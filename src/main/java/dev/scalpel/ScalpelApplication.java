package dev.scalpel;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.actuate.autoconfigure.web.ManagementContextConfiguration;
import org.springframework.boot.autoconfigure.AutoConfigurationExcludeFilter;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.context.TypeExcludeFilter;
import org.springframework.boot.context.properties.ConfigurationPropertiesScan;
import org.springframework.context.annotation.ComponentScan;
import org.springframework.context.annotation.ComponentScan.Filter;
import org.springframework.context.annotation.FilterType;

/**
 * Scalpel: LLM generations as managed, cancellable streams with leak-free slots.
 *
 * <p>{@code @SpringBootApplication}, spelled out so that the component scan also leaves out the
 * management server's child-context configuration ({@code ManagementServerLoop}), which must not
 * configure the API's server.
 */
@SpringBootConfiguration(proxyBeanMethods = false)
@EnableAutoConfiguration
@ComponentScan(excludeFilters = { @Filter(type = FilterType.CUSTOM, classes = TypeExcludeFilter.class),
		@Filter(type = FilterType.CUSTOM, classes = AutoConfigurationExcludeFilter.class),
		@Filter(type = FilterType.ANNOTATION, classes = ManagementContextConfiguration.class) })
@ConfigurationPropertiesScan
public class ScalpelApplication {

	/** Reactor Netty's setting for the number of event loops (server and upstream client share them). */
	static final String IO_WORKER_COUNT = "reactor.netty.ioWorkerCount";

	public static void main(String[] args) {
		eventLoopPerCore();
		SpringApplication.run(ScalpelApplication.class, args);
	}

	/**
	 * One event loop per core the process may use, unless {@code -Dreactor.netty.ioWorkerCount} says
	 * otherwise. Reactor Netty's default is at least four, which on a one- or two-core container puts
	 * more loops than cores: each token then waits for its loop's turn on a core, and a cancel or a
	 * close handed to another loop waits a scheduler time slice. The {@code steady} benchmark, with
	 * Scalpel on one core, measured slot release after cancel p99 at 25 ms with four loops and 6 ms
	 * with one. Must run before Reactor Netty's classes load, so it cannot be a Spring property.
	 */
	static void eventLoopPerCore() {
		if (System.getProperty(IO_WORKER_COUNT) == null) {
			System.setProperty(IO_WORKER_COUNT, Integer.toString(Runtime.getRuntime().availableProcessors()));
		}
	}

}
