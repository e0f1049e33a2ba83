/**
 * Cross-cutting web concerns: RFC 9457 problem details for every error, request size and JSON
 * limits, and the wiring of the application.
 */
@NullMarked
package dev.scalpel.system;

import org.jspecify.annotations.NullMarked;
