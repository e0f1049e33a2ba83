/** Scalpel, a service that runs LLM generations as managed streams. */
@NullMarked
package dev.scalpel;

import org.jspecify.annotations.NullMarked;
