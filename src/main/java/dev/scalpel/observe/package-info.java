/**
 * Operations: Micrometer meters, lifecycle logs, health for Kubernetes, the {@code streams} actuator
 * endpoint and the leak auditor.
 */
@NullMarked
package dev.scalpel.observe;

import org.jspecify.annotations.NullMarked;
