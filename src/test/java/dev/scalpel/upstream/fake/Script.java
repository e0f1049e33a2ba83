package dev.scalpel.upstream.fake;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.IntStream;

/**
 * What {@link TestUpstream} answers to one request: the tokens of a streamed reply, their pacing
 * and how the stream ends, or a plain status with a body. Immutable: every method returns a
 * changed copy, so a script can be shared and enqueued many times.
 *
 * <pre class="code">
 * Script.words(50).interval(Duration.ofMillis(20)).hangAfter(10);
 * Script.tokens("Hi").error(429, "rate_limit_error", "Slow down").header("Retry-After", "1");
 * </pre>
 */
public final class Script implements Cloneable {

	/** How a streamed reply ends once {@link #endAfter} tokens have been sent. */
	enum Ending {

		/** Finish chunk, usage and end marker, then the body ends. */
		FINISH,
		/** A TCP reset. */
		RESET,
		/** An event whose JSON is cut short, then nothing more. */
		MALFORMED_JSON,
		/** 1 MiB without a newline, then nothing more. */
		OVERSIZED_LINE,
		/** The body ends with no finish chunk nor end marker. */
		END_WITHOUT_FINISH,
		/** Nothing more; the response stays open. */
		HANG,
		/** The provider's in-stream error event, then the body ends. */
		ERROR_EVENT

	}

	List<String> tokens;

	Duration headersDelay = Duration.ZERO;

	Duration firstTokenDelay = Duration.ZERO;

	Duration interval = Duration.ZERO;

	String finishReason = "stop";

	boolean usage = true;

	int inputTokens = 7;

	int outputTokens = -1;

	/** A plain (non-streamed) answer when not 0. */
	int status;

	/** The raw body of a plain answer, or {@code null} for a provider-shaped error. */
	String statusBody;

	/** The type and message of a provider-shaped error (plain answer or in-stream event). */
	String errorType;

	String errorMessage;

	List<Map.Entry<String, String>> headers = List.of();

	Ending ending = Ending.FINISH;

	/** Reset the connection once the request is read, before any byte of a response. */
	boolean resetBeforeResponse;

	int endAfter = Integer.MAX_VALUE;

	private Script(List<String> tokens) {
		this.tokens = tokens;
	}

	/** A streamed reply made of these pieces, each sent as one chunk. */
	public static Script tokens(String... tokens) {
		return new Script(List.copyOf(Arrays.asList(tokens)));
	}

	/**
	 * An OpenAI-format reply whose chunks carry these deltas as they are (JSON objects, e.g.
	 * {@code {"tool_calls":[...]}}), each as one chunk, instead of text.
	 */
	public static Script deltas(String... deltas) {
		return new Script(Arrays.stream(deltas).map(delta -> RAW_DELTA + delta).toList());
	}

	/** Marks a piece sent as a raw OpenAI delta. */
	static final String RAW_DELTA = "\u0000delta:";

	/** A streamed reply of {@code n} tokens {@code "w1 "}, {@code "w2 "}, ... */
	public static Script words(int n) {
		return new Script(IntStream.rangeClosed(1, n).mapToObj(i -> "w" + i + " ").toList());
	}

	/** Waits this long before sending the status and headers; {@code Duration.ofDays(1)} means never. */
	public Script headersDelay(Duration delay) {
		return with(s -> s.headersDelay = delay);
	}

	/** Waits this long after the headers (and the provider's opening events) before the first token. */
	public Script firstTokenDelay(Duration delay) {
		return with(s -> s.firstTokenDelay = delay);
	}

	/** Waits this long between two tokens. */
	public Script interval(Duration interval) {
		return with(s -> s.interval = interval);
	}

	/**
	 * The finish reason, {@code "stop"} (default), {@code "length"} or {@code "content_filter"}, sent as
	 * is to OpenAI clients and as {@code end_turn} / {@code max_tokens} / {@code refusal} to Anthropic
	 * clients (other values pass through).
	 */
	public Script finishReason(String reason) {
		return with(s -> s.finishReason = reason);
	}

	/** Reports this usage (default: 7 input tokens and one output token per token). */
	public Script usage(int input, int output) {
		return with(s -> {
			s.usage = true;
			s.inputTokens = input;
			s.outputTokens = output;
		});
	}

	/**
	 * Reports no usage: no usage chunk for OpenAI even when requested, no {@code usage} objects in
	 * Anthropic's {@code message_start} and {@code message_delta}.
	 */
	public Script noUsage() {
		return with(s -> s.usage = false);
	}

	/** Answers with this status and raw JSON body instead of a stream. */
	public Script status(int code, String body) {
		return with(s -> {
			s.status = code;
			s.statusBody = body;
		});
	}

	/** Answers with this status and the provider's error body (shape chosen by the request path). */
	public Script error(int code, String type, String message) {
		return with(s -> {
			s.status = code;
			s.statusBody = null;
			s.errorType = type;
			s.errorMessage = message;
		});
	}

	/** Adds a response header, to a stream or a plain answer. */
	public Script header(String name, String value) {
		return with(s -> {
			List<Map.Entry<String, String>> headers = new ArrayList<>(this.headers);
			headers.add(Map.entry(name, value));
			s.headers = List.copyOf(headers);
		});
	}

	/** After {@code n} tokens, aborts the connection with a TCP reset (a server-side close). */
	public Script resetAfter(int n) {
		return ending(Ending.RESET, n);
	}

	/**
	 * Reads the request, then aborts the connection with a TCP reset before any byte of a response:
	 * what a provider restarting, or a proxy dropping the connection, looks like to the caller.
	 */
	public Script resetBeforeResponse() {
		return with(s -> s.resetBeforeResponse = true);
	}

	/** After {@code n} tokens, sends an event whose JSON is cut short, then hangs. */
	public Script malformedJsonAfter(int n) {
		return ending(Ending.MALFORMED_JSON, n);
	}

	/** After {@code n} tokens, sends one 1 MiB line without a newline, then hangs. */
	public Script oversizedLineAfter(int n) {
		return ending(Ending.OVERSIZED_LINE, n);
	}

	/** After {@code n} tokens, ends the body cleanly without finish chunk, {@code [DONE]} or {@code message_stop}. */
	public Script endWithoutFinishAfter(int n) {
		return ending(Ending.END_WITHOUT_FINISH, n);
	}

	/** After {@code n} tokens, sends nothing more and keeps the connection open. */
	public Script hangAfter(int n) {
		return ending(Ending.HANG, n);
	}

	/** After {@code n} tokens, sends the provider's in-stream error event, then ends the body. */
	public Script errorEventAfter(int n, String type, String message) {
		return ending(Ending.ERROR_EVENT, n).with(s -> {
			s.errorType = type;
			s.errorMessage = message;
		});
	}

	/** The tokens actually sent: all of them, or the first {@link #endAfter}. */
	List<String> sentTokens() {
		return this.tokens.subList(0, Math.min(this.endAfter, this.tokens.size()));
	}

	int outputTokens() {
		return (this.outputTokens >= 0) ? this.outputTokens : this.tokens.size();
	}

	private Script ending(Ending ending, int n) {
		return with(s -> {
			s.ending = ending;
			s.endAfter = n;
		});
	}

	private Script with(Consumer<Script> change) {
		try {
			Script copy = (Script) clone();
			change.accept(copy);
			return copy;
		}
		catch (CloneNotSupportedException ex) {
			throw new IllegalStateException(ex);
		}
	}

	@Override
	public String toString() {
		return "Script[" + this.tokens.size() + " tokens, " + (this.resetBeforeResponse ? "reset before response"
				: (this.status != 0) ? "status " + this.status
				: this.ending + ((this.ending != Ending.FINISH) ? " after " + this.endAfter : "")) + "]";
	}

}
