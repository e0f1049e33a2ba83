package dev.scalpel.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/** Blocking HTTP calls of the harness to the processes it runs (admin and management ports). */
final class Http {

	private static final HttpClient CLIENT = HttpClient.newHttpClient();

	private Http() {
	}

	static HttpResponse<String> send(HttpRequest request) {
		return send(CLIENT, request);
	}

	private static HttpResponse<String> send(HttpClient client, HttpRequest request) {
		try {
			return client.send(request, HttpResponse.BodyHandlers.ofString());
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException(ex);
		}
	}

	static HttpResponse<String> get(String url) {
		return send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build());
	}

	/** A GET on a new connection of a new client, so that nothing the shared client holds is reused. */
	static HttpResponse<String> getFresh(String url) {
		return send(HttpClient.newHttpClient(),
				HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build());
	}

}
