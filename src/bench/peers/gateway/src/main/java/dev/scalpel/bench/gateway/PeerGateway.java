package dev.scalpel.bench.gateway;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/**
 * Spring Cloud Gateway routing every request to {@code peer.upstream} (application.yaml): the plain
 * proxy on Scalpel's own stack (Spring WebFlux on Reactor Netty) that the benchmark's {@code peers}
 * scenario measures Scalpel against.
 */
@SpringBootApplication
public class PeerGateway {

	public static void main(String[] args) {
		SpringApplication.run(PeerGateway.class, args);
	}

}
