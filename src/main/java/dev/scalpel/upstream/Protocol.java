package dev.scalpel.upstream;

import java.util.Map;

import org.jspecify.annotations.Nullable;
import tools.jackson.databind.JsonNode;

import org.springframework.http.HttpHeaders;
import org.springframework.http.codec.ServerSentEvent;

/** The wire protocol of one kind of provider: its request, its stream of events, its error bodies. */
interface Protocol {

	/** The path of the streaming call, appended to the endpoint's base URL. */
	String path();

	/** Sets the headers of a call: the key, the protocol version. */
	void headers(HttpHeaders headers, ProviderProperties.Endpoint endpoint);

	/** The JSON body of a streaming call. */
	Map<String, Object> body(GenerationRequest request, ProviderProperties.Endpoint endpoint);

	/** A reader for the events of one call. */
	Reader reader(String endpoint);

	/**
	 * The provider's error type and message from a parsed error body or error event, or null when it
	 * has neither.
	 */
	@Nullable ProviderError error(JsonNode root);

	/** An error as a provider describes it. */
	record ProviderError(@Nullable String type, @Nullable String message) {
	}

	/** Turns the events of one call into chunks. Not thread-safe: one per call, fed in order. */
	interface Reader {

		/**
		 * The chunk an event carries, or null for an event that carries none (a role, a ping, usage).
		 * Throws {@link UpstreamFailure} for an error event or a malformed one.
		 */
		@Nullable Chunk read(ServerSentEvent<String> event);

		/**
		 * Called when the stream ends: the finish when it is still to be sent, null when it was, and
		 * {@link UpstreamFailure} ({@link UpstreamFailure.Kind#INCOMPLETE}) when the provider never finished.
		 */
		Chunk.@Nullable Finished end();

	}

}
