package dev.scalpel.upstream.fake;

import java.util.Locale;
import java.util.Map;

import org.jspecify.annotations.Nullable;
import tools.jackson.databind.JsonNode;

/**
 * A request received by {@link TestUpstream}, recorded once its whole body arrived.
 *
 * @param connection the connection it came on
 * @param method the HTTP method, such as {@code POST}
 * @param path the path, without the query
 * @param headers the headers, by lower-case name (repeated headers joined with {@code ", "})
 * @param body the body as text, empty if none
 * @param json the body as JSON, or {@code null} if it is not JSON
 * @param receivedNanos the {@link System#nanoTime()} when the body was complete
 */
public record ReceivedRequest(UpstreamConnection connection, String method, String path, Map<String, String> headers,
		String body, @Nullable JsonNode json, long receivedNanos) {

	/** The value of a header, by case-insensitive name, or {@code null}. */
	public @Nullable String header(String name) {
		return this.headers.get(name.toLowerCase(Locale.ROOT));
	}

}
