/**
 * The port to model providers: turns a generation request into a stream of tokens whose
 * cancellation ends the upstream call, and routes model names to providers.
 */
@NullMarked
package dev.scalpel.upstream;

import org.jspecify.annotations.NullMarked;
