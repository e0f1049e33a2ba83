package dev.scalpel.security.hostile;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;
import java.util.stream.Collectors;

import org.jspecify.annotations.Nullable;

import static dev.scalpel.security.hostile.HostileService.ALICE;
import static dev.scalpel.security.hostile.HostileService.BOB;
import static dev.scalpel.security.hostile.HostileService.OPS;
import static dev.scalpel.security.hostile.HostileService.key;

/** One hostile request, described symbolically (victims by name) so that failures read well. */
public record HostileRequest(String method, Endpoint endpoint, PathShape shape, IdRef id, List<Param> query,
			Credentials credentials, List<Header> headers, Host host, Body body) {

	/**
	 * The same request, except that one whose credentials could legitimately change a live victim
	 * (its owner's key or the administrator's, in any of its Authorization headers) is aimed at the
	 * completed victim instead: that one must not change whoever asks.
	 */
	HostileRequest safe() {
		Victim victim = this.id.victim();
		if (victim == null || !victim.live) {
			return this;
		}
		Set<String> identities = this.credentials.identities();
		if (identities.contains(victim.owner) || identities.contains(OPS)) {
			IdRef completed = IdRef.of(Victim.COMPLETED, this.id.shape());
			return new HostileRequest(this.method, this.endpoint, this.shape, completed, this.query,
					this.credentials, this.headers, this.host, this.body);
		}
		return this;
	}

	public boolean head() {
		return this.method.equals("HEAD");
	}

	/** Whether the path is the OpenAI door's, where errors are OpenAI's error objects. */
	boolean openAiPath() {
		String path = this.shape.apply(this.endpoint.template);
		if (path.startsWith("http://localhost")) {
			path = path.substring("http://localhost".length());
		}
		// The path as the server matches it: without the query, nor a fragment the request line carried.
		for (char end : new char[] { '?', '#' }) {
			int at = path.indexOf(end);
			if (at >= 0) {
				path = path.substring(0, at);
			}
		}
		return path.startsWith("/v1/chat/") || path.equals("/v1/models") || path.startsWith("/v1/models/");
	}

	/** The victim this request is about (in its path, or as a list's cursor), if any. */
	@Nullable Victim targetedVictim() {
		if (this.endpoint.hasId()) {
			return this.id.victim();
		}
		if (this.endpoint == Endpoint.STREAMS && (this.method.equals("GET") || this.method.equals("HEAD"))) {
			Param after = first("after");
			return (after != null && after.value().equals("{id}")) ? this.id.victim() : null;
		}
		return null;
	}

	/** Whether the request attaches with a valid token for this victim, as the only credential. */
	boolean presentsValidTokenFor(Victim victim) {
		Param token = first("token");
		if (token == null || !this.credentials.authorization().isEmpty() || !this.method.equals("GET")) {
			return false;
		}
		return (victim == Victim.COMPLETED && token.value().equals(TokenRef.COMPLETED.placeholder()))
				|| (victim == Victim.RUNNING && token.value().equals(TokenRef.RUNNING.placeholder()));
	}

	private @Nullable Param first(String name) {
		return this.query.stream().filter(param -> param.name().equals(name)).findFirst().orElse(null);
	}

	String target(HostileService service) {
		String id = this.id.render(service);
		String target = this.shape.apply(this.endpoint.template).replace("{id}", id);
		if (!this.query.isEmpty()) {
			target += "?" + this.query.stream()
				.map(param -> param.name() + "=" + resolve(param.value(), id, service))
				.collect(Collectors.joining("&"));
		}
		return target;
	}

	private static String resolve(String value, String id, HostileService service) {
		String resolved = value.replace("{id}", id);
		for (Map.Entry<String, String> token : service.tokens().entrySet()) {
			resolved = resolved.replace(token.getKey(), token.getValue());
		}
		return resolved;
	}

	/** The request's bytes, exactly. */
	public byte[] wire(HostileService service) {
		StringBuilder head = new StringBuilder();
		head.append(this.method).append(' ').append(target(service)).append(" HTTP/1.1\r\n");
		if (this.host.value() != null) {
			head.append("Host: ")
				.append(this.host.equals(Host.DEFAULT) ? "localhost:" + service.port() : this.host.value())
				.append("\r\n");
		}
		for (String value : this.credentials.authorization()) {
			head.append("Authorization: ").append(value).append("\r\n");
		}
		for (Header header : this.headers) {
			head.append(header.name()).append(": ").append(header.value()).append("\r\n");
		}
		head.append("Connection: close\r\n");
		byte[] body = this.body.bytes();
		ByteArrayOutputStream wire = new ByteArrayOutputStream();
		if (body == null) {
			head.append("\r\n");
			wire.writeBytes(head.toString().getBytes(StandardCharsets.UTF_8));
		}
		else if (this.body.framing() == Framing.LENGTH) {
			head.append("Content-Length: ").append(body.length).append("\r\n\r\n");
			wire.writeBytes(head.toString().getBytes(StandardCharsets.UTF_8));
			wire.writeBytes(body);
		}
		else {
			head.append("Transfer-Encoding: chunked\r\n\r\n");
			wire.writeBytes(head.toString().getBytes(StandardCharsets.UTF_8));
			for (int at = 0; at < body.length; at += 1000) {
				int size = Math.min(1000, body.length - at);
				wire.writeBytes((Integer.toHexString(size) + "\r\n").getBytes(StandardCharsets.US_ASCII));
				wire.write(body, at, size);
				wire.writeBytes("\r\n".getBytes(StandardCharsets.US_ASCII));
			}
			wire.writeBytes("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
		}
		return wire.toByteArray();
	}

	@Override
	public String toString() {
		String path = this.shape.apply(this.endpoint.template).replace("{id}", this.id.toString());
		String query = this.query.isEmpty() ? ""
				: "?" + this.query.stream().map(Param::toString).collect(Collectors.joining("&"));
		return "\n  " + this.method + " " + HostileHttp.printable(path, 200) + query + "\n  credentials: "
				+ this.credentials + "\n  headers: " + this.headers + "\n  host: " + this.host + "\n  body: "
				+ this.body;
	}

	// ---------------------------------------------------------------------------------------------
	// Its parts

	/** The streams under attack, started before it. */
	enum Victim {

		/** Alice's background stream on {@code simulated}, completed. */
		COMPLETED(ALICE, false),

		/** Alice's background stream on {@code controlled}: two tokens, then in progress for good. */
		RUNNING(ALICE, true),

		/** Alice's stream started without a listener: queued until one attaches (none will). */
		WAITING(ALICE, true),

		/** Bob's background stream on {@code controlled}: one token, then in progress for good. */
		BOBS(BOB, true);

		final String owner;

		final boolean live;

		Victim(String owner, boolean live) {
			this.owner = owner;
			this.live = live;
		}

		String key() {
			return HostileService.key(this.owner);
		}

	}

	/** What a caller needs to succeed on a stream's endpoint: to own it, or to own or administer it. */
	enum Access {

		READ, MANAGE, NONE

	}

	/** Where a request goes, before its path is dressed up; {@code {id}} stands for a stream id. */
	enum Endpoint {

		STREAMS("/v1/streams", Access.MANAGE), STATUS("/v1/streams/{id}", Access.MANAGE),
		EVENTS("/v1/streams/{id}/events", Access.READ), CANCEL("/v1/streams/{id}/cancel", Access.MANAGE),
		ATTACH_TOKEN("/v1/streams/{id}/attach_token", Access.READ), SUB_RESOURCE("/v1/streams/{id}/nope", Access.READ),
		CHAT("/v1/chat/completions", Access.NONE), CHAT_OTHER("/v1/chat/{id}", Access.NONE),
		MODELS("/v1/models", Access.NONE), MODEL("/v1/models/{id}", Access.NONE), V1("/v1", Access.NONE),
		ROOT("/", Access.NONE), DOCS("/v3/api-docs", Access.NONE), SWAGGER("/swagger-ui.html", Access.NONE),
		ACTUATOR("/actuator/health", Access.NONE), LEGACY("/v1/completions", Access.NONE);

		final String template;

		private final Access access;

		Endpoint(String template, Access access) {
			this.template = template;
			this.access = access;
		}

		Access access() {
			return this.access;
		}

		boolean hasId() {
			return this.template.contains("{id}");
		}

	}

	/** How a path is dressed up. Each keeps {@code {id}} intact. */
	enum PathShape {

		PLAIN(path -> path),
		DOUBLE_SLASH_FIRST(path -> "/" + path),
		DOUBLE_SLASH_INSIDE(path -> path.replaceFirst("/v1/", "/v1//")),
		TRAILING_SLASH(path -> path + "/"),
		DOT_SEGMENT(path -> "/." + path),
		DOT_DOT_SEGMENT(path -> "/x/.." + path),
		ENCODED_DOT_DOT(path -> "/x/%2e%2e" + path),
		ENCODED_SLASH(path -> path.replace("/v1/", "/v1%2f")),
		DOUBLE_ENCODED(path -> path.replace("/v1/", "/v1%252f")),
		UPPER_CASE(path -> path.replace("v1", "V1").replace("streams", "Streams")),
		ENCODED_LETTER(path -> path.replace("streams", "%73treams")),
		MATRIX(path -> path.replace("/v1/", "/v1;a=b/")),
		SEMICOLON(path -> path + ";jsessionid=0"),
		ABSOLUTE_FORM(path -> "http://localhost" + path),
		FRAGMENT(path -> path + "#top"),
		BACKSLASH(path -> path.replace('/', '\\')),
		ENCODED_NUL(path -> path + "%00"),
		ENCODED_CONTROL(path -> path + "%0d%0aX-Injected:%20yes"),
		RAW_UNICODE(path -> path + "/\u00fc\u202e\u4e2d"),
		RAW_SPACE(path -> path + " x"),
		RAW_TAB(path -> path + "\tx"),
		PERCENT_JUNK(path -> path + "%zz%"),
		LONG(path -> path + "/" + "a".repeat(5000)),
		OVERLONG_UTF8(path -> path + "%c0%af"),
		ASTERISK(path -> "*"),
		// Last, as jqwik tries the last value of an enum as an edge case: cheap, unlike LONG.
		NO_SLASH(path -> path.substring(1));

		private final UnaryOperator<String> dress;

		PathShape(UnaryOperator<String> dress) {
			this.dress = dress;
		}

		String apply(String template) {
			return this.dress.apply(template);
		}

	}

	/** How a victim's id is dressed up; {@link #EXACT} names the stream itself. */
	enum IdShape {

		EXACT(id -> id), UPPER_CASE(id -> id.toUpperCase(Locale.ROOT)), EXTRA_CHARACTER(id -> id + "0"),
		MISSING_CHARACTER(id -> id.substring(0, id.length() - 1)), ENCODED_LETTER(id -> "%73" + id.substring(1)),
		MATRIX(id -> id + ";v=1"), ENCODED_SPACE(id -> id + "%20"), ENCODED_NUL(id -> id + "%00"),
		TRAILING_DOT(id -> id + "."), TWICE(id -> id + "," + id), NO_PREFIX(id -> id.substring(4)),
		WILDCARD(id -> id.substring(0, 10) + "*");

		private final UnaryOperator<String> dress;

		IdShape(UnaryOperator<String> dress) {
			this.dress = dress;
		}

	}

	/** A stream id: a victim's (dressed up) or a literal one. */
	record IdRef(@Nullable Victim victim, IdShape shape, String literal) {

		static IdRef of(Victim victim, IdShape shape) {
			return new IdRef(victim, shape, "");
		}

		static IdRef literal(String id) {
			return new IdRef(null, IdShape.EXACT, id);
		}

		String render(HostileService service) {
			Victim victim = this.victim;
			return (victim != null) ? this.shape.dress.apply(service.ids().get(victim)) : this.literal;
		}

		@Override
		public String toString() {
			if (this.victim == null) {
				return HostileHttp.printable(this.literal, 80);
			}
			return "<" + this.victim + ((this.shape != IdShape.EXACT) ? " " + this.shape : "") + ">";
		}

	}

	/** Attach tokens: alice's valid ones for two victims, and forgeries of them. */
	enum TokenRef {

		COMPLETED, RUNNING, TAMPERED, SPLICED, OWNER_CLAIM;

		String placeholder() {
			return "{token:" + name() + "}";
		}

	}

	/** A query parameter, its value raw; {@code {id}} and token placeholders are resolved when sent. */
	record Param(String name, String value) {

		@Override
		public String toString() {
			return this.name + "=" + HostileHttp.printable(this.value, 60);
		}

	}

	/**
	 * What a request presents as {@code Authorization} (none, one or several headers) and whom the
	 * service may take it for: empty when no key is valid, several when several headers carry valid keys.
	 */
	record Credentials(String label, List<String> authorization, Set<String> identities) {

		static final Credentials NONE = new Credentials("no key", List.of(), Set.of());

		static Credentials valid(String name) {
			return new Credentials(name + "'s key", List.of("Bearer " + key(name)), Set.of(name));
		}

		static Credentials of(String label, String value, @Nullable String identity) {
			return new Credentials(label, List.of(value), (identity != null) ? Set.of(identity) : Set.of());
		}

		@Override
		public String toString() {
			return this.label + ((this.authorization.isEmpty()) ? ""
					: " " + this.authorization.stream().map(value -> HostileHttp.printable(value, 60)).toList());
		}

	}

	/** A header as written on the wire (UTF-8, so non-ASCII values go out as their UTF-8 bytes). */
	record Header(String name, String value) {

		@Override
		public String toString() {
			return this.name + ": " + HostileHttp.printable(this.value, 80);
		}

	}

	/** How a body's length is told. */
	enum Framing {

		LENGTH, CHUNKED

	}

	/** A request body, with a label for reports; no bytes means no body at all. */
	record Body(String label, byte @Nullable [] bytes, Framing framing) {

		static final Body NONE = new Body("none", null, Framing.LENGTH);

		static Body of(String label, String text) {
			return new Body(label, text.getBytes(StandardCharsets.UTF_8), Framing.LENGTH);
		}

		static Body of(String label, byte[] bytes) {
			return new Body(label, bytes, Framing.LENGTH);
		}

		Body framed(Framing framing) {
			return new Body(this.label, this.bytes, framing);
		}

		@Override
		public String toString() {
			byte[] bytes = this.bytes;
			if (bytes == null) {
				return "none";
			}
			return this.label + " (" + bytes.length + " bytes, " + this.framing + ") "
					+ HostileHttp.printable(new String(bytes, StandardCharsets.UTF_8), 160);
		}

	}

	/** The request's {@code Host}: the service's own (by default), another, or none at all. */
	record Host(String label, @Nullable String value) {

		static final Host DEFAULT = new Host("default", "localhost");

		@Override
		public String toString() {
			return (this.value != null) ? HostileHttp.printable(this.value, 60) : "(none)";
		}

	}

}
