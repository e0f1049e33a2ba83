package dev.scalpel.upstream;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Random;
import java.util.function.Supplier;

import org.junit.jupiter.api.Test;
import tools.jackson.databind.json.JsonMapper;

import org.springframework.http.codec.ServerSentEvent;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The OpenAI reader's fast path (scanning a chunk's tokens) answers exactly as its tree path: the
 * same chunks, the same usage, the same failures, for thousands of random streams of chunks of
 * every shape (content, roles, finish reasons, usage, tool calls, errors, numbers where strings
 * are expected, nested and extra fields, escapes, malformed and trailing JSON).
 */
class OpenAiProtocolScanTest {

	private final OpenAiProtocol protocol = new OpenAiProtocol(JsonMapper.builder().build());

	@Test
	void scanningReaderAnswersAsTheTreeReaderForRandomStreams() {
		for (long seed = 0; seed < 3000; seed++) {
			Random random = new Random(seed);
			List<String> chunks = new ArrayList<>();
			int n = 1 + random.nextInt(8);
			for (int i = 0; i < n; i++) {
				chunks.add(chunk(random));
			}
			if (random.nextBoolean()) {
				chunks.add("[DONE]");
			}
			Protocol.Reader fast = this.protocol.reader("ep");
			Protocol.Reader tree = this.protocol.treeReader("ep");
			for (String data : chunks) {
				String outcomeFast = outcome(() -> fast.read(event(data)));
				String outcomeTree = outcome(() -> tree.read(event(data)));
				assertThat(outcomeFast).as("seed %d, chunk %s", seed, data).isEqualTo(outcomeTree);
			}
			assertThat(outcome(fast::end)).as("seed %d, end", seed).isEqualTo(outcome(tree::end));
		}
	}

	@Test
	void commonChunksTakeTheFastPath() {
		JsonMapper json = JsonMapper.builder().build();
		assertThat(OpenAiProtocol.scan(json,
				"{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,"
						+ "\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}],\"usage\":null}"))
			.isEqualTo(new OpenAiProtocol.Scanned(false, null, null, true, null, "Hi"));
		assertThat(OpenAiProtocol.scan(json,
				"{\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10}}"))
			.isEqualTo(new OpenAiProtocol.Scanned(true, 7, 3, false, null, null));
		assertThat(OpenAiProtocol.scan(json, "{\"choices\":[{\"delta\":{\"tool_calls\":[]}}]}")).isNull();
		assertThat(OpenAiProtocol.scan(json, "{\"error\":{\"message\":\"x\"}}")).isNull();
		assertThat(OpenAiProtocol.scan(json, "{\"choices\":[")).isNull();
	}

	/** The hand-written scanner answers as the parser's scan wherever it answers, and takes the common chunks. */
	@Test
	void chunkScannerAnswersAsTheParsersScanWhereItAnswers() {
		JsonMapper json = JsonMapper.builder().build();
		int answered = 0;
		for (long seed = 0; seed < 20_000; seed++) {
			Random random = new Random(seed);
			String data = (random.nextInt(4) == 0) ? mangled(random, chunk(random)) : chunk(random);
			OpenAiProtocol.Scanned fast = ChunkScanner.scan(data);
			if (fast != null) {
				answered++;
				assertThat(fast).as("seed %d, chunk %s", seed, data).isEqualTo(OpenAiProtocol.scan(json, data));
			}
		}
		assertThat(answered).as("chunks the scanner answered").isGreaterThan(2_000);
		assertThat(ChunkScanner.scan("{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1712345678,"
				+ "\"model\":\"m\",\"system_fingerprint\":null,\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
				+ "\"content\":\"Hi\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}"))
			.isEqualTo(new OpenAiProtocol.Scanned(false, null, null, true, null, "Hi"));
		assertThat(ChunkScanner.scan(" {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3} } "))
			.isEqualTo(new OpenAiProtocol.Scanned(true, 7, 3, false, null, null));
		// What it leaves to the parser.
		assertThat(ChunkScanner.scan("{\"choices\":[{\"delta\":{\"content\":\"a\\nb\"}}]}")).isNull();
		assertThat(ChunkScanner.scan("{\"choices\":[{\"delta\":{\"content\":\"a\"}},{}]}")).isNull();
		assertThat(ChunkScanner.scan("{\"x\":{\"nested\":1},\"choices\":[]}")).isNull();
		assertThat(ChunkScanner.scan("{\"created\":01,\"choices\":[]}")).isNull();
		assertThat(ChunkScanner.scan("{\"choices\":[]} x")).isNull();
		assertThat(ChunkScanner.scan("{\"choices\":[],}")).isNull();
		assertThat(ChunkScanner.scan("{\"choices\":[{\"delta\":{\"content\":\"\u0001\"}}]}")).isNull();
		assertThat(ChunkScanner.scan("{\"choices\":[")).isNull();
	}

	/** A chunk with a random character changed, dropped or doubled, or blanks put in. */
	private static String mangled(Random random, String data) {
		if (data.isEmpty()) {
			return data;
		}
		int at = random.nextInt(data.length());
		return switch (random.nextInt(4)) {
			case 0 -> data.substring(0, at) + data.substring(at + 1);
			case 1 -> data.substring(0, at) + data.charAt(at) + data.substring(at);
			case 2 -> data.substring(0, at) + pick(random, " ", "\n", "\t", "\r") + data.substring(at);
			default -> data.substring(0, at) + pick(random, "\"", ",", ":", "{", "}", "[", "]", "0", "-", "e", "\\", "n")
					+ data.substring(at + 1);
		};
	}

	private static ServerSentEvent<String> event(String data) {
		return ServerSentEvent.<String>builder().data(data).build();
	}

	private static String outcome(Supplier<?> read) {
		try {
			return String.valueOf(read.get());
		}
		catch (UpstreamFailure failure) {
			return "failure " + failure.kind() + " " + failure.getMessage();
		}
	}

	private static String chunk(Random random) {
		switch (random.nextInt(12)) {
			case 0:
				return pick(random, "{\"choices\":[", "not json", "[1,2]", "\"text\"", "{\"choices\":[]} trailing",
						"{\"choices\":[]}{}", "", "null", "{}", "{\"choices\":[{\"delta\":{\"content\":\"a\"}}]}]");
			default:
				break;
		}
		List<String> fields = new ArrayList<>();
		if (random.nextInt(3) > 0) {
			fields.add("\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\"");
		}
		if (random.nextInt(5) > 0) {
			fields.add("\"choices\":" + choices(random));
		}
		if (random.nextInt(3) == 0) {
			fields.add("\"usage\":" + pick(random, "null", "{\"prompt_tokens\":7,\"completion_tokens\":3}",
					"{\"prompt_tokens\":\"7\",\"completion_tokens\":3.5}", "{\"completion_tokens\":99999999999}",
					"{\"prompt_tokens\":1,\"details\":{\"cached\":[1,{\"a\":2}]},\"completion_tokens\":2}", "[]", "5",
					"{}"));
		}
		if (random.nextInt(8) == 0) {
			fields.add("\"error\":" + pick(random, "null", "{\"message\":\"boom\",\"type\":\"server_error\"}",
					"\"plain message\"", "{}", "7"));
		}
		if (random.nextInt(4) == 0) {
			fields.add("\"system_fingerprint\":" + pick(random, "null", "\"fp\"", "{\"nested\":[{\"deep\":[[]]}]}"));
		}
		if (random.nextInt(6) == 0 && !fields.isEmpty()) {
			// A duplicate key: the later one wins in both paths.
			fields.add(fields.get(random.nextInt(fields.size())));
		}
		java.util.Collections.shuffle(fields, random);
		return "{" + String.join(",", fields) + "}";
	}

	private static String choices(Random random) {
		switch (random.nextInt(10)) {
			case 0:
				return pick(random, "[]", "null", "{}", "[1]", "[null]", "\"x\"");
			default:
				break;
		}
		List<String> list = new ArrayList<>();
		int count = 1 + ((random.nextInt(5) == 0) ? random.nextInt(3) : 0);
		for (int i = 0; i < count; i++) {
			List<String> fields = new ArrayList<>();
			if (random.nextBoolean()) {
				fields.add("\"index\":" + i);
			}
			if (random.nextInt(5) > 0) {
				fields.add("\"delta\":" + delta(random));
			}
			if (random.nextInt(3) > 0) {
				fields.add("\"finish_reason\":"
						+ pick(random, "null", "null", "\"stop\"", "\"length\"", "\"tool_calls\"", "7", "true", "{}"));
			}
			if (random.nextInt(6) == 0) {
				fields.add("\"logprobs\":" + pick(random, "null", "{\"content\":[{\"token\":\"a\",\"logprob\":-0.1}]}"));
			}
			java.util.Collections.shuffle(fields, random);
			list.add("{" + String.join(",", fields) + "}");
		}
		return "[" + String.join(",", list) + "]";
	}

	private static String delta(Random random) {
		switch (random.nextInt(12)) {
			case 0:
				return pick(random, "null", "[]", "\"text\"", "{}");
			default:
				break;
		}
		List<String> fields = new ArrayList<>();
		if (random.nextInt(4) == 0) {
			fields.add("\"role\":\"assistant\"");
		}
		if (random.nextInt(5) > 0) {
			fields.add("\"content\":" + pick(random, "\"Hello\"", "\" world\"", "\"\"", "null",
					"\"q\\\"uote\\\\ \\u00e9\\n\\ud83d\\ude00\"", "12", "1.50", "true", "{\"x\":1}", "[\"a\"]"));
		}
		if (random.nextInt(8) == 0) {
			fields.add(pick(random, "\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{}\"}}]",
					"\"refusal\":null", "\"reasoning_content\":\"think\""));
		}
		java.util.Collections.shuffle(fields, random);
		return "{" + String.join(",", fields) + "}";
	}

	private static String pick(Random random, String... options) {
		return Objects.requireNonNull(options[random.nextInt(options.length)]);
	}

}
