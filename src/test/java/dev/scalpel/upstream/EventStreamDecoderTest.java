package dev.scalpel.upstream;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;
import reactor.core.publisher.Flux;

import org.springframework.core.ResolvableType;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferLimitException;
import org.springframework.core.io.buffer.DefaultDataBufferFactory;
import org.springframework.http.HttpStatus;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.http.codec.ServerSentEventHttpMessageReader;
import org.springframework.mock.http.client.reactive.MockClientHttpResponse;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatExceptionOfType;

/**
 * The upstream event-stream decoder reads what Spring's {@code ServerSentEventHttpMessageReader}
 * (which it replaced on the token path) reads: the same events with the same type and data, for
 * thousands of random streams (several data lines, event types, ids, retries, comments, empty and
 * unknown fields, multi-byte characters, LF and CRLF, one or more blank lines) cut into buffers at
 * random places, between a CR and its LF and inside a character included. Beyond Spring's reader it
 * takes a lone CR as a line end, as the SSE specification does.
 */
class EventStreamDecoderTest {

	private static final ResolvableType EVENTS = ResolvableType.forClassWithGenerics(ServerSentEvent.class,
			String.class);

	private final DefaultDataBufferFactory buffers = DefaultDataBufferFactory.sharedInstance;

	@Test
	void readsWhatSpringsReaderReadsForRandomStreamsCutAnywhere() {
		for (long seed = 0; seed < 3000; seed++) {
			Random random = new Random(seed);
			byte[] stream = stream(random);
			List<String> expected = spring(stream);
			List<String> decoded = decode(stream, cuts(random, stream.length));
			assertThat(decoded).as("seed %d: %s", seed, new String(stream, StandardCharsets.UTF_8)).isEqualTo(expected);
		}
	}

	@Test
	void aLoneCarriageReturnEndsALineAsTheSpecificationSays() {
		byte[] stream = "event: a\rdata: 1\r\rdata: 2\r\n\r\ndata: 3\n\n".getBytes(StandardCharsets.UTF_8);
		for (int cut = 0; cut <= stream.length; cut++) {
			assertThat(decode(stream, new int[] { cut })).as("cut at %d", cut)
				.containsExactly("a|1", "null|2", "null|3");
		}
	}

	@Test
	void theLastEventIsReadEvenWithoutItsBlankLine() {
		assertThat(decode("data: 1\n\ndata: [DONE]".getBytes(StandardCharsets.UTF_8), new int[0]))
			.containsExactly("null|1", "null|[DONE]");
	}

	@Test
	void anEventLongerThanTheLimitFailsAndEveryBufferIsReleased() {
		EventStreamDecoder decoder = new EventStreamDecoder(100);
		DataBuffer first = buffer("data: " + "x".repeat(60));
		DataBuffer second = buffer("x".repeat(60) + "\n\n");
		assertThat(decoder.decode(first)).isEmpty();
		assertThatExceptionOfType(DataBufferLimitException.class).isThrownBy(() -> decoder.decode(second));

		EventStreamDecoder lines = new EventStreamDecoder(100);
		DataBuffer many = buffer("data: " + "y".repeat(50) + "\ndata: " + "y".repeat(50) + "\n");
		assertThatExceptionOfType(DataBufferLimitException.class).isThrownBy(() -> lines.decode(many));

		EventStreamDecoder within = new EventStreamDecoder(100);
		for (int i = 0; i < 50; i++) {
			assertThat(within.decode(buffer("data: " + "z".repeat(90) + "\n\n"))).hasSize(1);
		}
	}

	@Test
	void buffersAreReleasedWhateverHappens() {
		org.springframework.core.io.buffer.NettyDataBufferFactory netty = new org.springframework.core.io.buffer.NettyDataBufferFactory(
				io.netty.buffer.PooledByteBufAllocator.DEFAULT);
		EventStreamDecoder decoder = new EventStreamDecoder(10);
		List<org.springframework.core.io.buffer.NettyDataBuffer> given = new ArrayList<>();
		for (String text : List.of("data: 1\n\n", "data: 12345678901234\n\n", "data: 2")) {
			org.springframework.core.io.buffer.NettyDataBuffer buffer = netty
				.wrap(io.netty.buffer.Unpooled.copiedBuffer(text, StandardCharsets.UTF_8));
			given.add(buffer);
			try {
				decoder.decode(buffer);
			}
			catch (DataBufferLimitException expected) {
				// the second buffer
			}
		}
		assertThat(given).allSatisfy(buffer -> assertThat(buffer.getNativeBuffer().refCnt()).isZero());
	}

	private DataBuffer buffer(String text) {
		return this.buffers.wrap(text.getBytes(StandardCharsets.UTF_8));
	}

	/** "type|data" of each event with data, as Spring's reader reads the stream in one buffer. */
	private List<String> spring(byte[] stream) {
		MockClientHttpResponse response = new MockClientHttpResponse(HttpStatus.OK);
		response.setBody(Flux.just(this.buffers.wrap(stream)));
		return new ServerSentEventHttpMessageReader().read(EVENTS, response, Map.of())
			.cast(ServerSentEvent.class)
			.filter(event -> event.data() != null && !((String) event.data()).isEmpty())
			.map(event -> event.event() + "|" + event.data())
			.collectList()
			.block(Duration.ofSeconds(5));
	}

	/** "type|data" of each event the decoder passes on, fed the stream cut at the given places. */
	private List<String> decode(byte[] stream, int[] cuts) {
		EventStreamDecoder decoder = new EventStreamDecoder(1 << 20);
		List<String> events = new ArrayList<>();
		int from = 0;
		int[] ends = Arrays.copyOf(cuts, cuts.length + 1);
		ends[cuts.length] = stream.length;
		for (int end : ends) {
			decoder.decode(this.buffers.wrap(Arrays.copyOfRange(stream, from, end)))
				.forEach(event -> events.add(event.event() + "|" + event.data()));
			from = end;
		}
		decoder.finish().forEach(event -> events.add(event.event() + "|" + event.data()));
		return events;
	}

	private static int[] cuts(Random random, int length) {
		int[] cuts = new int[random.nextInt(12)];
		for (int i = 0; i < cuts.length; i++) {
			cuts[i] = random.nextInt(length + 1);
		}
		Arrays.sort(cuts);
		return cuts;
	}

	private static byte[] stream(Random random) {
		ByteArrayOutputStream out = new ByteArrayOutputStream();
		int events = 1 + random.nextInt(6);
		for (int e = 0; e < events; e++) {
			int lines = 1 + random.nextInt(4);
			for (int l = 0; l < lines; l++) {
				String line = switch (random.nextInt(10)) {
					case 0 -> "event:" + (random.nextBoolean() ? " " : "") + pick(random, "message", "content_block_delta", "ping");
					case 1 -> "id: " + random.nextInt(1000);
					case 2 -> "retry: " + random.nextInt(5000);
					case 3 -> ": " + pick(random, "ping", "keep-alive", "");
					case 4 -> "data:";
					case 5 -> pick(random, "unknown: field", "dat: x", "datax: y");
					default -> "data:" + (random.nextBoolean() ? " " : "") + value(random);
				};
				out.writeBytes(line.getBytes(StandardCharsets.UTF_8));
				out.writeBytes(ending(random));
			}
			for (int blank = 1 + random.nextInt(2); blank > 0; blank--) {
				out.writeBytes(ending(random));
			}
		}
		return out.toByteArray();
	}

	private static byte[] ending(Random random) {
		return (random.nextBoolean() ? "\n" : "\r\n").getBytes(StandardCharsets.US_ASCII);
	}

	private static String value(Random random) {
		return pick(random, "{\"choices\":[{\"delta\":{\"content\":\"Hé 日本 🙂\"}}]}", "[DONE]", "plain text",
				" leading space", "x".repeat(random.nextInt(300)), "{\"a\":1}", "a:b:c");
	}

	private static String pick(Random random, String... values) {
		return values[random.nextInt(values.length)];
	}

}
