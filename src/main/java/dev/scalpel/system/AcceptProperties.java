package dev.scalpel.system;

import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * How the HTTP server takes new connections ({@code scalpel.server.*}).
 *
 * @param acceptsPerTurn the most pending connections an event loop accepts in one turn before it goes
 * back to the connections it already has (Netty's epoll server accepts one); see {@link ServerSockets}
 */
@Validated
@ConfigurationProperties("scalpel.server")
public record AcceptProperties(@DefaultValue("256") @Min(1) @Max(65_536) int acceptsPerTurn) {
}
