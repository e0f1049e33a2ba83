package dev.scalpel.upstream.fake;

import java.util.List;

import org.junit.jupiter.api.Test;
import tools.jackson.databind.json.JsonMapper;

import dev.scalpel.upstream.fake.WireFormat.Reply;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The token frames {@link WireFormat} writes out by hand (for speed) are the frames its JSON tree
 * builds: same SSE lines, same JSON, for tokens that need escaping too.
 */
class WireFormatTest {

	private static final JsonMapper JSON = JsonMapper.shared();

	private static final List<String> TOKENS = List.of("Hello", " world", "", "quote \" and \\ back",
			"line\nbreak\ttab\u0001", "ünïcödé ✓ 😀", "</script>");

	@Test
	void handWrittenTokenFramesAreTheTreeBuiltOnes() {
		for (WireFormat format : WireFormat.values()) {
			for (boolean includeUsage : new boolean[] { false, true }) {
				Reply reply = new Reply(Script.words(3), 42, "gpt-\"odd\"", includeUsage, 1_700_000_000L);
				for (String token : TOKENS) {
					String fast = format.token(reply, token);
					String tree = format.tokenTree(reply, token);
					assertThat(lines(fast)).as("%s %s", format, token).isEqualTo(lines(tree));
					assertThat(JSON.readTree(data(fast))).as("%s %s", format, token)
						.isEqualTo(JSON.readTree(data(tree)));
					assertThat(fast).endsWith("\n\n");
				}
			}
		}
	}

	/** The lines before the data line (the event name, if any). */
	private static List<String> lines(String frame) {
		return frame.lines().filter((line) -> !line.startsWith("data:")).toList();
	}

	private static String data(String frame) {
		return frame.lines().filter((line) -> line.startsWith("data: ")).findFirst().orElseThrow().substring(6);
	}

}
