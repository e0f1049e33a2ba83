package dev.scalpel.support;

import java.time.Duration;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;

/** The official OpenAI Java SDK pointed at a running Scalpel, as an application would configure it. */
public final class OpenAiClients {

	private OpenAiClients() {
	}

	/** A client of Scalpel's OpenAI door on this port; retries off, so that each call is one request. */
	public static OpenAIClient scalpel(int port) {
		return scalpel(port, "sk-any");
	}

	/** As {@link #scalpel(int)}, with an API key of the service's. */
	public static OpenAIClient scalpel(int port, String apiKey) {
		return OpenAIOkHttpClient.builder()
			.baseUrl("http://localhost:" + port + "/v1")
			.apiKey(apiKey)
			.maxRetries(0)
			.timeout(Duration.ofSeconds(10))
			.build();
	}

}
