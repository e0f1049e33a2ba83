package dev.scalpel.stream;

import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * An event's SSE frame, written straight into its bytes for one line of data and through text for
 * several lines, against the frame as the SSE format spells it.
 */
class StreamEventFrameTest {

	private static final String[] PIECES = { "a", "Z", " ", "\"", "\\", "{", "}", ":", "é", "ß", "中", "😀", "\t",
			"\u0000", "\u007f", "\u0080", "\uffff" };

	private static final String[] TYPES = { EventType.TOKEN.wireName(), EventType.TOOL_CALLS.wireName(), EventType.CREATED.wireName(),
			"stream.completed", "x", "tÿpe" };

	@Test
	void framesOfRandomEventsAreTheirIdTypeAndDataLines() {
		SplittableRandom random = new SplittableRandom(20261127);
		for (int run = 0; run < 5000; run++) {
			long id = switch (run % 4) {
				case 0 -> run;
				case 1 -> random.nextLong(1, 100);
				case 2 -> random.nextLong(1, Long.MAX_VALUE);
				default -> (run % 8 == 3) ? Long.MAX_VALUE : (long) Math.pow(10, random.nextInt(19));
			};
			String type = TYPES[random.nextInt(TYPES.length)];
			StringBuilder data = new StringBuilder();
			int length = random.nextInt(40);
			for (int i = 0; i < length; i++) {
				data.append(PIECES[random.nextInt(PIECES.length)]);
			}
			String text = data.toString();
			StreamEvent event = new StreamEvent(id, type, text);
			String expected = "id:" + id + "\nevent:" + type + "\ndata:" + text + "\n\n";
			assertThat(new String(event.frame(), StandardCharsets.UTF_8)).as("run %d", run).isEqualTo(expected);
			assertThat(event.frame()).as("encoded once").isSameAs(event.frame());
		}
	}

	@Test
	void dataOfSeveralLinesGetsADataLineEach() {
		StreamEvent event = new StreamEvent(7, "stream.failed", "{\"a\":1}\n{\"b\":\"é\"}\r\nlast\rend");
		assertThat(new String(event.frame(), StandardCharsets.UTF_8))
			.isEqualTo("id:7\nevent:stream.failed\ndata:{\"a\":1}\ndata:{\"b\":\"é\"}\ndata:last\ndata:end\n\n");
	}

	@Test
	void aFrameIsReadBackFromAFrozenLog() {
		StreamEvent event = new StreamEvent(1234567, EventType.TOKEN.wireName(), StreamEvent.tokenData("héllo \"wörld\" 😀"));
		byte[] frame = event.frame();
		assertThat(StreamEvent.fromFrame(frame, 0, frame.length)).isEqualTo(event);
	}

}
