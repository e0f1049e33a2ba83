package dev.scalpel.observe;

import java.time.Duration;

import jakarta.validation.constraints.NotNull;
import org.hibernate.validator.constraints.time.DurationMin;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * The leak auditor ({@code scalpel.auditor.*}).
 *
 * @param enabled whether it runs at all
 * @param interval how often it checks; it also gives every limit it checks this much slack, so that
 *     only what the normal release paths missed is found
 */
@Validated
@ConfigurationProperties("scalpel.auditor")
public record AuditorProperties(@DefaultValue("true") boolean enabled,
		@DefaultValue("30s") @DurationMin(millis = 1) @NotNull Duration interval) {
}
