package dev.scalpel.slot;


import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.validation.annotation.Validated;

/**
 * Upstream capacity of one replica ({@code scalpel.slots.*}).
 *
 * @param max how many upstream generations may run at once
 */
@Validated
@ConfigurationProperties("scalpel.slots")
public record SlotProperties(@DefaultValue("64") @Min(1) @Max(100_000) int max) {
}
