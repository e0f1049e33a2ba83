/**
 * Who may do what: API keys (configured as SHA-256 hashes, sent as {@code Authorization: Bearer}),
 * administrators, browser attach tokens, per-key quotas, CORS and security headers. Streams know
 * their owner through {@link dev.scalpel.stream.Caller}; this package turns a request into one.
 */
@NullMarked
package dev.scalpel.security;

import org.jspecify.annotations.NullMarked;
