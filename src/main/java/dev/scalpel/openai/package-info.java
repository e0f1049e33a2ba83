/**
 * The OpenAI-compatible front door: {@code POST /v1/chat/completions}, streamed or not, on the same
 * managed streams as the native API.
 */
@NullMarked
package dev.scalpel.openai;

import org.jspecify.annotations.NullMarked;
