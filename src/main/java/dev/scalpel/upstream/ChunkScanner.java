package dev.scalpel.upstream;

import org.jspecify.annotations.Nullable;

/**
 * Reads the commonest OpenAI chunk without a JSON parser: one pass over the text that answers what
 * {@link OpenAiProtocol#scan} answers, or null for anything it does not take (an escape in a string
 * it returns, a nested value it would skip, a second choice, a duplicate it cannot settle, any doubt
 * about the syntax); the parser then reads the chunk. Written by hand because a parser's set-up per
 * chunk (context, symbol table, buffers) costs more than the small chunk itself (docs/adr/chunk-scanner.md);
 * OpenAiProtocolScanTest holds the two to the same answers.
 */
final class ChunkScanner {

	private final String text;

	private int at;

	private ChunkScanner(String text) {
		this.text = text;
	}

	/** What the chunk says, or null when the parser must read it. */
	static OpenAiProtocol.@Nullable Scanned scan(String data) {
		try {
			return new ChunkScanner(data).chunk();
		}
		catch (Doubt doubt) {
			return null;
		}
	}

	private OpenAiProtocol.Scanned chunk() {
		boolean usage = false;
		Integer promptTokens = null;
		Integer completionTokens = null;
		boolean choice = false;
		String finishReason = null;
		String content = null;
		expect('{');
		if (!peekIs('}')) {
			do {
				String name = name();
				switch (name) {
					case "error" -> literal("null");
					case "usage" -> {
						usage = false;
						promptTokens = null;
						completionTokens = null;
						if (peekIs('{')) {
							usage = true;
							expect('{');
							if (!peekIs('}')) {
								do {
									String field = name();
									Integer count = count();
									if (field.equals("prompt_tokens")) {
										promptTokens = count;
									}
									else if (field.equals("completion_tokens")) {
										completionTokens = count;
									}
								}
								while (comma('}'));
							}
							expect('}');
						}
						else {
							literal("null");
						}
					}
					case "choices" -> {
						expect('[');
						choice = false;
						finishReason = null;
						content = null;
						if (!peekIs(']')) {
							choice = true;
							expect('{');
							if (!peekIs('}')) {
								do {
									String field = name();
									if (field.equals("finish_reason")) {
										String reason = stringOrNull();
										if (reason != null) {
											finishReason = reason;
										}
									}
									else if (field.equals("delta")) {
										content = null;
										expect('{');
										if (!peekIs('}')) {
											do {
												String part = name();
												if (part.equals("content")) {
													String text = stringOrNull();
													if (text != null) {
														content = text;
													}
												}
												else if (part.equals("role")) {
													skipPrimitive();
												}
												else {
													throw Doubt.INSTANCE;
												}
											}
											while (comma('}'));
										}
										expect('}');
									}
									else {
										skipPrimitive();
									}
								}
								while (comma('}'));
							}
							expect('}');
						}
						expect(']');
					}
					default -> skipPrimitive();
				}
			}
			while (comma('}'));
		}
		expect('}');
		space();
		if (this.at != this.text.length()) {
			throw Doubt.INSTANCE;
		}
		return new OpenAiProtocol.Scanned(usage, promptTokens, completionTokens, choice, finishReason, content);
	}

	/** A property's name and its colon. */
	private String name() {
		String name = string();
		expect(':');
		return name;
	}

	/** After a member: true for a comma (another member follows), false before {@code end}. */
	private boolean comma(char end) {
		space();
		if (this.at < this.text.length() && this.text.charAt(this.at) == ',') {
			this.at++;
			return true;
		}
		if (this.at < this.text.length() && this.text.charAt(this.at) == end) {
			return false;
		}
		throw Doubt.INSTANCE;
	}

	/** A usage count: an int, or null for a string, a boolean or null; anything else is a doubt. */
	private @Nullable Integer count() {
		space();
		char first = peek();
		if (first == '-' || (first >= '0' && first <= '9')) {
			int start = this.at;
			number();
			String digits = this.text.substring(start, this.at);
			if (digits.indexOf('.') >= 0 || digits.indexOf('e') >= 0 || digits.indexOf('E') >= 0 || digits.length() > 10) {
				// Floats and longs: the parser's types decide.
				throw Doubt.INSTANCE;
			}
			long value = Long.parseLong(digits);
			if (value < Integer.MIN_VALUE || value > Integer.MAX_VALUE) {
				throw Doubt.INSTANCE;
			}
			return (int) value;
		}
		skipPrimitive();
		return null;
	}

	/** A string, true, false, null or a number; an object or array is a doubt. */
	private void skipPrimitive() {
		space();
		char first = peek();
		switch (first) {
			case '"' -> skipString();
			case 't' -> literal("true");
			case 'f' -> literal("false");
			case 'n' -> literal("null");
			default -> {
				if (first == '-' || (first >= '0' && first <= '9')) {
					number();
				}
				else {
					throw Doubt.INSTANCE;
				}
			}
		}
	}

	/** A JSON number, strictly: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
	private void number() {
		if (peek() == '-') {
			this.at++;
		}
		if (peek() == '0') {
			this.at++;
		}
		else {
			digits();
		}
		if (this.at < this.text.length() && this.text.charAt(this.at) == '.') {
			this.at++;
			digits();
		}
		if (this.at < this.text.length() && (this.text.charAt(this.at) == 'e' || this.text.charAt(this.at) == 'E')) {
			this.at++;
			if (peek() == '+' || peek() == '-') {
				this.at++;
			}
			digits();
		}
		if (this.at < this.text.length()) {
			char next = this.text.charAt(this.at);
			if (next != ',' && next != '}' && next != ']' && !isSpace(next)) {
				throw Doubt.INSTANCE;
			}
		}
	}

	private void digits() {
		int start = this.at;
		while (this.at < this.text.length() && this.text.charAt(this.at) >= '0' && this.text.charAt(this.at) <= '9') {
			this.at++;
		}
		if (this.at == start) {
			throw Doubt.INSTANCE;
		}
	}

	private void literal(String word) {
		space();
		if (!this.text.startsWith(word, this.at)) {
			throw Doubt.INSTANCE;
		}
		this.at += word.length();
		if (this.at < this.text.length()) {
			char next = this.text.charAt(this.at);
			if (next != ',' && next != '}' && next != ']' && !isSpace(next)) {
				throw Doubt.INSTANCE;
			}
		}
	}

	/** A string, or null for {@code null}: a null leaves what an earlier duplicate said, as the parser's scan does. */
	private @Nullable String stringOrNull() {
		if (peekIs('"')) {
			return string();
		}
		literal("null");
		return null;
	}

	/** A string without escapes or control characters; any other is a doubt. */
	private String string() {
		expect('"');
		int start = this.at;
		while (true) {
			char c = peek();
			if (c == '"') {
				break;
			}
			if (c == '\\' || c < 0x20) {
				throw Doubt.INSTANCE;
			}
			this.at++;
		}
		String value = this.text.substring(start, this.at);
		this.at++;
		return value;
	}

	/** Any well-formed string, escapes included. */
	private void skipString() {
		expect('"');
		while (true) {
			char c = peek();
			this.at++;
			if (c == '"') {
				return;
			}
			if (c < 0x20) {
				throw Doubt.INSTANCE;
			}
			if (c == '\\') {
				char escaped = peek();
				this.at++;
				if (escaped == 'u') {
					for (int i = 0; i < 4; i++) {
						if (Character.digit(peek(), 16) < 0) {
							throw Doubt.INSTANCE;
						}
						this.at++;
					}
				}
				else if ("\"\\/bfnrt".indexOf(escaped) < 0) {
					throw Doubt.INSTANCE;
				}
			}
		}
	}

	private void expect(char c) {
		space();
		if (peek() != c) {
			throw Doubt.INSTANCE;
		}
		this.at++;
	}

	private boolean peekIs(char c) {
		space();
		return this.at < this.text.length() && this.text.charAt(this.at) == c;
	}

	/** The next character; a doubt at the end of the text. */
	private char peek() {
		if (this.at >= this.text.length()) {
			throw Doubt.INSTANCE;
		}
		return this.text.charAt(this.at);
	}

	private void space() {
		while (this.at < this.text.length() && isSpace(this.text.charAt(this.at))) {
			this.at++;
		}
	}

	private static boolean isSpace(char c) {
		return c == ' ' || c == '\t' || c == '\n' || c == '\r';
	}

	/** Not sure: the parser reads the chunk. Without a stack trace, it costs what a return costs. */
	private static final class Doubt extends RuntimeException {

		static final Doubt INSTANCE = new Doubt();

		private Doubt() {
			super(null, null, false, false);
		}

	}

}
