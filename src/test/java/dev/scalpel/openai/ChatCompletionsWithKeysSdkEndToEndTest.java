package dev.scalpel.openai;

import com.openai.client.OpenAIClient;
import com.openai.errors.UnauthorizedException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import org.junit.jupiter.api.Test;

import org.springframework.beans.factory.annotation.Value;

import dev.scalpel.support.OpenAiClients;
import dev.scalpel.support.ScalpelTest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatExceptionOfType;

/**
 * The OpenAI door with API keys: the official SDK's {@code apiKey} is a Scalpel key (it sends it as
 * {@code Authorization: Bearer}), a wrong one raises the SDK's {@code UnauthorizedException}, and a
 * door stream belongs to its key like any other stream.
 */
@ScalpelTest(properties = { "scalpel.security.keys[0].name=alice",
		"scalpel.security.keys[0].sha256=099295a3784e1bd368dc348843a7398c1931b6b8ec2504c73e91ed2040bdc46c",
		"scalpel.security.keys[1].name=bob",
		"scalpel.security.keys[1].sha256=36c76b48bb2ee1d9d37140550e9d7ed7d395cf56f41050dc2a72e5291c0011f0" })
class ChatCompletionsWithKeysSdkEndToEndTest {

	@Value("${local.server.port}")
	int port;

	private static ChatCompletionCreateParams hello() {
		return ChatCompletionCreateParams.builder().model("simulated").addUserMessage("Hello").maxCompletionTokens(3).build();
	}

	@Test
	void theSdkWithAKeyOfTheServiceIsAnswered() {
		OpenAIClient alice = OpenAiClients.scalpel(this.port, "sk-alice");
		ChatCompletion completion = alice.chat().completions().create(hello());
		assertThat(completion.choices()).singleElement()
			.satisfies(choice -> assertThat(choice.message().content()).isPresent());
		assertThat(alice.models().list().data()).isNotEmpty();
	}

	@Test
	void theSdkWithAWrongKeyRaisesItsUnauthorizedException() {
		OpenAIClient wrong = OpenAiClients.scalpel(this.port, "sk-wrong");
		assertThatExceptionOfType(UnauthorizedException.class).isThrownBy(() -> wrong.chat().completions().create(hello()))
			.satisfies(ex -> assertThat(ex.statusCode()).isEqualTo(401));
		assertThatExceptionOfType(UnauthorizedException.class).isThrownBy(() -> wrong.models().list())
			.satisfies(ex -> assertThat(ex.code()).as("OpenAI's error shape on /v1/models too").contains("unauthorized"));
	}

	@Test
	void aDoorStreamBelongsToItsKey() {
		OpenAIClient alice = OpenAiClients.scalpel(this.port, "sk-alice");
		String id = alice.chat().completions().withRawResponse().create(hello()).headers().values("X-Stream-Id").get(0);
		// Its status, on the native API (not part of OpenAI's), is alice's to see and nobody else's.
		java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
		assertThat(status(http, id, "sk-alice")).isEqualTo(200);
		assertThat(status(http, id, "sk-bob")).isEqualTo(404);
	}

	private int status(java.net.http.HttpClient http, String id, String key) {
		try {
			return http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://localhost:" + this.port + "/v1/streams/" + id))
				.header("Authorization", "Bearer " + key)
				.timeout(java.time.Duration.ofSeconds(10))
				.build(), java.net.http.HttpResponse.BodyHandlers.discarding()).statusCode();
		}
		catch (java.io.IOException ex) {
			throw new java.io.UncheckedIOException(ex);
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
			throw new AssertionError(ex);
		}
	}

}
