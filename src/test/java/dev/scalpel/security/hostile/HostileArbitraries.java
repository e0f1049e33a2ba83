package dev.scalpel.security.hostile;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Tuple;

import dev.scalpel.security.hostile.HostileRequest.Body;
import dev.scalpel.security.hostile.HostileRequest.Credentials;
import dev.scalpel.security.hostile.HostileRequest.Endpoint;
import dev.scalpel.security.hostile.HostileRequest.Framing;
import dev.scalpel.security.hostile.HostileRequest.Header;
import dev.scalpel.security.hostile.HostileRequest.Host;
import dev.scalpel.security.hostile.HostileRequest.IdRef;
import dev.scalpel.security.hostile.HostileRequest.IdShape;
import dev.scalpel.security.hostile.HostileRequest.Param;
import dev.scalpel.security.hostile.HostileRequest.PathShape;
import dev.scalpel.security.hostile.HostileRequest.TokenRef;
import dev.scalpel.security.hostile.HostileRequest.Victim;

import static dev.scalpel.security.hostile.HostileService.ALICE;
import static dev.scalpel.security.hostile.HostileService.ALLOWED_ORIGIN;
import static dev.scalpel.security.hostile.HostileService.BOB;
import static dev.scalpel.security.hostile.HostileService.MAX_BODY_BYTES;
import static dev.scalpel.security.hostile.HostileService.OPS;
import static dev.scalpel.security.hostile.HostileService.UNKNOWN_ID;
import static dev.scalpel.security.hostile.HostileService.key;
import static dev.scalpel.security.hostile.HostileService.sha256;

/**
 * The generators of {@link HostileRequest}s for {@code HostileInputPropertyTest}: the three it
 * provides ({@link #anyRequests()}, {@link #startRequests()}, {@link #streamRequests()}) and the
 * arbitraries of each part of a request they are made of.
 */
public final class HostileArbitraries {

	private HostileArbitraries() {
	}

	public static Arbitrary<HostileRequest> anyRequests() {
		return Combinators
			.combine(methods(), Arbitraries.of(Endpoint.values()), pathShapes(), ids(), queries(), credentials(),
					headers(contentTypes(), accepts()), bodies())
			.as((method, endpoint, shape, id, query, credentials, head, body) -> new HostileRequest(method, endpoint,
					shape, id, query, credentials, head.headers(), head.host(), body))
			.map(HostileRequest::safe);
	}

	public static Arbitrary<HostileRequest> startRequests() {
		Arbitrary<String> methods = Arbitraries.frequencyOf(
				Tuple.of(12, Arbitraries.just("POST")),
				Tuple.of(1, methods()));
		Arbitrary<PathShape> shapes = Arbitraries.frequencyOf(
				Tuple.of(12, Arbitraries.just(PathShape.PLAIN)),
				Tuple.of(1, pathShapes()));
		Arbitrary<Credentials> credentials = Arbitraries.frequencyOf(
				Tuple.of(4, Arbitraries.just(Credentials.valid(ALICE))),
				Tuple.of(4, Arbitraries.just(Credentials.valid(BOB))),
				Tuple.of(1, Arbitraries.just(Credentials.valid(OPS))),
				Tuple.of(2, credentials()));
		Arbitrary<List<Header>> contentTypes = Arbitraries.frequencyOf(
				Tuple.of(8, Arbitraries.just(List.of(new Header("Content-Type", "application/json")))),
				Tuple.of(2, contentTypes()));
		Arbitrary<Body> startBodies = Arbitraries.frequencyOf(
				Tuple.of(8, startBodies().map(json -> Body.of("start request", json))),
				Tuple.of(1, chatBodies().map(json -> Body.of("chat request", json))),
				Tuple.of(4, hostileBodies()));
		Arbitrary<Body> chatBodies = Arbitraries.frequencyOf(
				Tuple.of(8, chatBodies().map(json -> Body.of("chat request", json))),
				Tuple.of(1, startBodies().map(json -> Body.of("start request", json))),
				Tuple.of(4, hostileBodies()));
		Arbitrary<Tuple.Tuple2<Endpoint, Body>> targets = Arbitraries.oneOf(
				Combinators.combine(Arbitraries.just(Endpoint.STREAMS), startBodies, framings())
					.as((endpoint, body, framing) -> Tuple.of(endpoint, body.framed(framing))),
				Combinators.combine(Arbitraries.just(Endpoint.CHAT), chatBodies, framings())
					.as((endpoint, body, framing) -> Tuple.of(endpoint, body.framed(framing))));
		return Combinators.combine(methods, targets, shapes, queries(), credentials, headers(contentTypes, accepts()))
			.as((method, target, shape, query, credential, head) -> new HostileRequest(method, target.get1(), shape,
					IdRef.literal(UNKNOWN_ID), query, credential, head.headers(), head.host(), target.get2()))
			.map(HostileRequest::safe);
	}

	public static Arbitrary<HostileRequest> streamRequests() {
		Arbitrary<Endpoint> endpoints = Arbitraries.frequencyOf(
				Tuple.of(3, Arbitraries.just(Endpoint.STATUS)),
				Tuple.of(4, Arbitraries.just(Endpoint.EVENTS)),
				Tuple.of(3, Arbitraries.just(Endpoint.CANCEL)),
				Tuple.of(2, Arbitraries.just(Endpoint.ATTACH_TOKEN)),
				Tuple.of(2, Arbitraries.just(Endpoint.STREAMS)),
				Tuple.of(1, Arbitraries.just(Endpoint.SUB_RESOURCE)));
		Arbitrary<String> methods = Arbitraries.frequencyOf(
				Tuple.of(4, Arbitraries.just("GET")),
				Tuple.of(4, Arbitraries.just("POST")),
				Tuple.of(1, methods()));
		Arbitrary<PathShape> shapes = Arbitraries.frequencyOf(
				Tuple.of(6, Arbitraries.just(PathShape.PLAIN)),
				Tuple.of(2, pathShapes()));
		Arbitrary<IdRef> ids = Arbitraries.frequencyOf(
				Tuple.of(6, Arbitraries.of(Victim.values()).map(victim -> IdRef.of(victim, IdShape.EXACT))),
				Tuple.of(2, ids()));
		Arbitrary<Credentials> credentials = Arbitraries.frequencyOf(
				Tuple.of(4, Arbitraries.just(Credentials.valid(BOB))),
				Tuple.of(2, Arbitraries.just(Credentials.valid(ALICE))),
				Tuple.of(2, Arbitraries.just(Credentials.valid(OPS))),
				Tuple.of(3, Arbitraries.just(Credentials.NONE)),
				Tuple.of(3, credentials()));
		Arbitrary<Body> bodies = Arbitraries.frequencyOf(
				Tuple.of(6, Arbitraries.just(Body.NONE)),
				Tuple.of(1, bodies()));
		return Combinators
			.combine(methods, endpoints, shapes, ids, tokenQueries(), credentials,
					headers(Arbitraries.just(List.of()), accepts()), bodies)
			.as((method, endpoint, shape, id, query, credential, head, body) -> new HostileRequest(method, endpoint,
					shape, id, query, credential, head.headers(), head.host(), body))
			.map(HostileRequest::safe);
	}

	static Arbitrary<String> methods() {
		return Arbitraries.frequencyOf(
				Tuple.of(4, Arbitraries.just("GET")),
				Tuple.of(4, Arbitraries.just("POST")),
				Tuple.of(3, Arbitraries.of("PUT", "DELETE", "PATCH", "OPTIONS", "HEAD")),
				Tuple.of(1, Arbitraries.of("TRACE", "get", "Post", "BREW", "PROPFIND", "M-SEARCH", "X")));
	}

	static Arbitrary<PathShape> pathShapes() {
		return Arbitraries.frequencyOf(
				Tuple.of(8, Arbitraries.just(PathShape.PLAIN)),
				Tuple.of(4, Arbitraries.of(PathShape.values())));
	}

	static Arbitrary<IdRef> ids() {
		List<String> hostile = List.of("", "abc", "str_", "str_" + "g".repeat(32), "str_" + "a".repeat(31),
				"str_" + "a".repeat(33), "STR_" + "0".repeat(32), "str_\u0660\u0661" + "0".repeat(30), "%2e%2e", "..",
				".", "%00", "%2f", "%2F..%2F", "%252e%252e", "%c0%ae%c0%ae", "%ff%fe", "%", "%%", "%u002e", "\u00e9",
				"\ud83d\udca5", "\u202e" + UNKNOWN_ID, "str_\u00e9", "${jndi:ldap://x/a}", "<script>",
				"'%20OR%201=1--", "null", "undefined", "-1", "0", "99999999999999999999999",
				"str_%30123456789abcdef0123456789abcdef", UNKNOWN_ID + "/", UNKNOWN_ID + "%2fcancel", "*", "~", "\\",
				"a;b", "%3Bb");
		return Arbitraries.frequencyOf(
				Tuple.of(6, Combinators.combine(Arbitraries.of(Victim.values()), idShapes()).as(IdRef::of)),
				Tuple.of(2, Arbitraries.just(IdRef.literal(UNKNOWN_ID))),
				Tuple.of(3, Arbitraries.of(hostile).map(IdRef::literal)),
				Tuple.of(1, Arbitraries.integers().between(100, 4500).map(n -> IdRef.literal("str_" + "a".repeat(n)))),
				Tuple.of(1, Arbitraries.strings().all().excludeChars('\r', '\n').ofMaxLength(16).map(IdRef::literal)));
	}

	static Arbitrary<IdShape> idShapes() {
		return Arbitraries.frequencyOf(
				Tuple.of(6, Arbitraries.just(IdShape.EXACT)),
				Tuple.of(3, Arbitraries.of(IdShape.values())));
	}

	static Arbitrary<List<Param>> queries() {
		return Arbitraries.frequencyOf(
				Tuple.of(4, Arbitraries.just(List.<Param>of())),
				Tuple.of(3, params().list().ofMinSize(1).ofMaxSize(3)));
	}

	/** Queries that mostly carry an attach token. */
	static Arbitrary<List<Param>> tokenQueries() {
		return Arbitraries.frequencyOf(
				Tuple.of(3, Arbitraries.just(List.<Param>of())),
				Tuple.of(3, tokenValues().map(value -> List.of(new Param("token", value)))),
				Tuple.of(3, params().list().ofMinSize(1).ofMaxSize(3)));
	}

	static Arbitrary<Param> params() {
		List<String> hostileNumbers = List.of("", "-1", "abc", "1.5", " 2", "%2B1", "0x1", "%00", "9223372036854775807",
				"9223372036854775808", "99999999999999999999", "1e2", "NaN", "%E2%82%AC", "\u00e9", "1,2", "%20", "+");
		Arbitrary<Param> after = Arbitraries
			.frequencyOf(
					Tuple.of(3, Arbitraries.of("{id}", "0", "1", "3", UNKNOWN_ID)),
					Tuple.of(2, Arbitraries.of(hostileNumbers)),
					Tuple.of(1, Arbitraries.integers().between(20, 600).map("9"::repeat)))
			.map(value -> new Param("after", value));
		Arbitrary<Param> limit = Arbitraries
			.frequencyOf(
					Tuple.of(2, Arbitraries.of("1", "20", "100", "0", "101", "2147483648", "ten")),
					Tuple.of(1, Arbitraries.of(hostileNumbers)))
			.map(value -> new Param("limit", value));
		Arbitrary<Param> status = Arbitraries
			.of("queued", "in_progress", "completed", "failed", "cancelled", "running", "Completed", "IN_PROGRESS", "",
					"%00", "in_progress%00", "in_progress,completed", "\u00e9", "x".repeat(600))
			.map(value -> new Param("status", value));
		Arbitrary<Param> token = tokenValues().map(value -> new Param("token", value));
		Arbitrary<Param> other = Combinators
			.combine(Arbitraries.of("x", "", "after[]", "__proto__", "Token", "TOKEN", "limit[]", "a%00b", "\u00e9"),
					Arbitraries.of("", "1", "%", "%zz", "\u00e9", "x".repeat(500)))
			.as(Param::new);
		return Arbitraries.frequencyOf(Tuple.of(3, after), Tuple.of(2, limit), Tuple.of(2, status), Tuple.of(3, token),
				Tuple.of(1, other));
	}

	static Arbitrary<String> tokenValues() {
		List<String> placeholders = new ArrayList<>();
		for (TokenRef token : TokenRef.values()) {
			placeholders.add(token.placeholder());
		}
		List<String> junk = List.of("", "x", "a.b", ".", "..", "a.b.c", "%2e", "%00", "\u00e9.\u00e9",
				TokenRef.COMPLETED.placeholder() + "x", "x" + TokenRef.RUNNING.placeholder(), "x".repeat(1100));
		String base64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		return Arbitraries.frequencyOf(
				Tuple.of(5, Arbitraries.of(placeholders)),
				Tuple.of(2, Arbitraries.of(junk)),
				Tuple.of(1, Arbitraries.strings().withChars(base64url + ".").ofMaxLength(200)));
	}

	static Arbitrary<Credentials> credentials() {
		String hashOfAlice;
		try {
			hashOfAlice = sha256(key(ALICE));
		}
		catch (NoSuchAlgorithmException ex) {
			throw new IllegalStateException(ex);
		}
		String basic = Base64.getEncoder().encodeToString("alice:sk-alice".getBytes(StandardCharsets.UTF_8));
		List<Credentials> loose = List.of(
				Credentials.of("alice's key, lower-case scheme", "bearer sk-alice", ALICE),
				Credentials.of("alice's key, upper-case scheme, spaces", "BEARER   sk-alice   ", ALICE),
				Credentials.of("alice's key after a tab", "Bearer\tsk-alice", ALICE));
		List<Credentials> wrong = List.of(
				Credentials.of("unknown key", "Bearer sk-mallory", null),
				Credentials.of("alice's key plus a character", "Bearer sk-alicex", null),
				Credentials.of("alice's key upper-cased", "Bearer SK-ALICE", null),
				Credentials.of("alice's key minus a character", "Bearer sk-alic", null),
				Credentials.of("alice's hash as the key", "Bearer " + hashOfAlice, null),
				Credentials.of("scheme only", "Bearer", null),
				Credentials.of("scheme and a space", "Bearer ", null),
				Credentials.of("basic", "Basic " + basic, null),
				Credentials.of("key without scheme", "sk-alice", null),
				Credentials.of("other scheme", "Token sk-alice", null),
				Credentials.of("two keys in one", "Bearer sk-alice sk-bob", null),
				Credentials.of("two credentials in one", "Bearer sk-alice, Bearer sk-bob", null),
				Credentials.of("equals sign", "Bearer=sk-alice", null),
				Credentials.of("colon", "Bearer: sk-alice", null),
				Credentials.of("quoted key", "Bearer \"sk-alice\"", null),
				Credentials.of("empty", "", null),
				Credentials.of("comma", ",", null),
				Credentials.of("digest", "Digest username=\"alice\"", null),
				Credentials.of("NUL in the key", "Bearer sk-alice\u0000", null),
				Credentials.of("DEL in the key", "Bearer sk-bob\u007f", null),
				Credentials.of("non-ASCII key", "Bearer sk-\u00e5lice", null),
				Credentials.of("no-break space after the key", "Bearer sk-alice\u00a0", null),
				Credentials.of("CJK key", "Bearer \u4e2d\u6587", null),
				Credentials.of("emoji key", "Bearer \ud83d\udd11", null));
		// Several Authorization headers: the service may take any valid one of them (or refuse).
		List<Credentials> duplicated = List.of(
				new Credentials("unknown key, then alice's", List.of("Bearer sk-mallory", "Bearer sk-alice"),
						Set.of(ALICE)),
				new Credentials("bob's key, then alice's", List.of("Bearer sk-bob", "Bearer sk-alice"),
						Set.of(ALICE, BOB)),
				new Credentials("alice's key, then none", List.of("Bearer sk-alice", ""), Set.of(ALICE)),
				new Credentials("bob's key, then ops'", List.of("Bearer sk-bob", "Bearer sk-ops"), Set.of(BOB, OPS)));
		Arbitrary<Credentials> huge = Arbitraries.integers()
			.between(500, 12000)
			.map(n -> Credentials.of("huge key (" + n + ")", "Bearer " + "k".repeat(n), null));
		Arbitrary<Credentials> random = headerValues()
			.map(text -> Credentials.of("random key", "Bearer " + text, null));
		return Arbitraries.frequencyOf(
				Tuple.of(4, Arbitraries.just(Credentials.valid(ALICE))),
				Tuple.of(4, Arbitraries.just(Credentials.valid(BOB))),
				Tuple.of(1, Arbitraries.just(Credentials.valid(OPS))),
				Tuple.of(3, Arbitraries.just(Credentials.NONE)),
				Tuple.of(1, Arbitraries.of(loose)),
				Tuple.of(4, Arbitraries.of(wrong)),
				Tuple.of(1, Arbitraries.of(duplicated)),
				Tuple.of(1, huge),
				Tuple.of(1, random));
	}

	/** The head besides the request line, the credentials and the framing. */
	record Head(List<Header> headers, Host host) {
	}

	static Arbitrary<Head> headers(Arbitrary<List<Header>> contentTypes, Arbitrary<List<Header>> accepts) {
		Arbitrary<List<Header>> lastEventIds = Arbitraries.frequencyOf(
				Tuple.of(6, Arbitraries.just(List.<Header>of())),
				Tuple.of(2, Arbitraries.of("0", "1", "2", "3", "-1", "abc", "1.5", "9".repeat(25), " 2 ", "", "\u00e9",
						"0x10", "+3", "1e3", "9223372036854775807", "%31", "1\u0000", "x".repeat(6000))
					.map(value -> List.of(new Header("Last-Event-ID", value)))));
		Arbitrary<List<Header>> origins = Arbitraries.frequencyOf(
				Tuple.of(8, Arbitraries.just(List.<Header>of())),
				Tuple.of(1, Arbitraries.of(ALLOWED_ORIGIN, "https://evil.example", "null", "", "javascript:alert(1)",
						"https://app.example.com.evil.example", "http://localhost", "\u00e9",
						"https://" + "o".repeat(5000))
					.map(origin -> List.of(new Header("Origin", origin)))),
				Tuple.of(1, Combinators
					.combine(Arbitraries.of(ALLOWED_ORIGIN, "https://evil.example"),
							Arbitraries.of("GET", "POST", "DELETE", "", "\u00e9"),
							Arbitraries.of("authorization", "authorization, content-type, x-evil", ""))
					.as((origin, method, headers) -> List.of(new Header("Origin", origin),
							new Header("Access-Control-Request-Method", method),
							new Header("Access-Control-Request-Headers", headers)))));
		Arbitrary<Header> fixed = Arbitraries.of(new Header("X-Forwarded-For", "10.0.0.1, evil"),
				new Header("X-Forwarded-Host", "evil.example"), new Header("X-Forwarded-Proto", "gopher"),
				new Header("Forwarded", "for=evil;host=evil;proto=https"),
				new Header("X-Forwarded-Prefix", "/../admin"),
				new Header("Cookie", "SESSION=x; JSESSIONID=y"), new Header("Expect", "100-continue"),
				new Header("Content-Encoding", "gzip"), new Header("Range", "bytes=0-1"),
				new Header("If-None-Match", "*"), new Header("Accept-Charset", "utf-16"),
				new Header("Accept-Encoding", "gzip, br, zstd"), new Header("Upgrade", "websocket"),
				new Header("TE", "trailers"), new Header("X-HTTP-Method-Override", "DELETE"),
				new Header("X-Stream-Id", UNKNOWN_ID), new Header("Content-Language", "\u00e9"),
				new Header("X-Empty", ""));
		Arbitrary<Header> random = Combinators
			.combine(Arbitraries.strings().withCharRange('a', 'z').ofMinLength(1).ofMaxLength(20), headerValues())
			.as((name, value) -> new Header("X-" + name, value));
		Arbitrary<Header> huge = Arbitraries.integers()
			.between(1000, 10000)
			.map(n -> new Header("X-Huge", "h".repeat(n)));
		Arbitrary<List<Header>> many = Arbitraries.integers()
			.between(50, 400)
			.map(n -> IntStream.range(0, n).mapToObj(i -> new Header("X-Many-" + i, "v")).toList());
		Arbitrary<List<Header>> others = Arbitraries.frequencyOf(
				Tuple.of(6, Arbitraries.just(List.<Header>of())),
				Tuple.of(3, Arbitraries.oneOf(fixed, random, huge).list().ofMinSize(1).ofMaxSize(3)),
				Tuple.of(1, many));
		Arbitrary<Host> hosts = Arbitraries.frequencyOf(
				Tuple.of(12, Arbitraries.just(Host.DEFAULT)),
				Tuple.of(1, Arbitraries.of(new Host("none", null), new Host("evil", "evil.example"),
						new Host("empty", ""), new Host("port 1", "localhost:1"), new Host("bad IPv6", "[::1"),
						new Host("space", "a b"), new Host("two", "localhost, evil.example"),
						new Host("non-ASCII", "\u00fcnic\u00f8de.example"),
						new Host("userinfo", "user:pass@evil.example"),
						new Host("huge port", "localhost:99999999999"))));
		return Combinators.combine(contentTypes, accepts, lastEventIds, origins, others, hosts)
			.as((contentType, accept, lastEventId, origin, other, host) -> {
				List<Header> all = new ArrayList<>();
				all.addAll(contentType);
				all.addAll(accept);
				all.addAll(lastEventId);
				all.addAll(origin);
				all.addAll(other);
				return new Head(List.copyOf(all), host);
			});
	}

	/**
	 * Header values: mostly printable (ASCII or not), sometimes with control characters, which Netty
	 * refuses before the application sees them. Never CR or LF, which would end the header.
	 */
	static Arbitrary<String> headerValues() {
		return Arbitraries.frequencyOf(
				Tuple.of(3, Arbitraries.strings().withCharRange(' ', '~').ofMaxLength(100)),
				Tuple.of(2, Arbitraries.strings().withCharRange(' ', '\u2fff').ofMaxLength(60)),
				Tuple.of(1, Arbitraries.strings().all().excludeChars('\r', '\n').ofMaxLength(60)));
	}

	static Arbitrary<List<Header>> contentTypes() {
		Arbitrary<String> hostile = Arbitraries.of("application/json; charset=utf-8",
				"application/json;charset=UTF-16", "application/json; charset=no-such-charset", "text/plain",
				"application/x-www-form-urlencoded", "multipart/form-data; boundary=zz", "application/problem+json",
				"application/*", "*/*", ";;;", "", "application/json, text/plain", "application/js\u00f6n",
				"application/json; charset=\"utf-8\"; x", "application/x-ndjson", "text/event-stream",
				"application/json" + ";a=b".repeat(500));
		return Arbitraries.frequencyOf(
				Tuple.of(4, Arbitraries.just(List.<Header>of())),
				Tuple.of(4, Arbitraries.just(List.of(new Header("Content-Type", "application/json")))),
				Tuple.of(3, hostile.map(type -> List.of(new Header("Content-Type", type)))),
				Tuple.of(1, Arbitraries.just(List.of(new Header("Content-Type", "text/plain"),
						new Header("Content-Type", "application/json")))));
	}

	static Arbitrary<List<Header>> accepts() {
		Arbitrary<String> hostile = Arbitraries.of("*/*", "application/json", "text/event-stream;q=0",
				"text/event-stream;;q=x/", "application/xml", "text/html", "", "*/*;q=abc", "application/problem+json",
				"text/*", "text/event-stream, application/json;q=0.5", "application/json;q=2", "\u00e9/\u00e9",
				"text/event-stream;charset=utf-16", String.join(", ", Collections.nCopies(51, "*/*")),
				"*/*" + ", */*".repeat(1000));
		return Arbitraries.frequencyOf(
				Tuple.of(4, Arbitraries.just(List.<Header>of())),
				Tuple.of(3, Arbitraries.just(List.of(new Header("Accept", "text/event-stream")))),
				Tuple.of(3, hostile.map(accept -> List.of(new Header("Accept", accept)))));
	}

	static Arbitrary<Framing> framings() {
		return Arbitraries.frequencyOf(
				Tuple.of(4, Arbitraries.just(Framing.LENGTH)),
				Tuple.of(1, Arbitraries.just(Framing.CHUNKED)));
	}

	static Arbitrary<Body> bodies() {
		Arbitrary<Body> bodies = Arbitraries.frequencyOf(
				Tuple.of(2, startBodies().map(json -> Body.of("start request", json))),
				Tuple.of(1, chatBodies().map(json -> Body.of("chat request", json))),
				Tuple.of(2, hostileBodies()));
		return Arbitraries.frequencyOf(
				Tuple.of(4, Arbitraries.just(Body.NONE)),
				Tuple.of(5, Combinators.combine(bodies, framings()).as(Body::framed)));
	}

	/** Bodies that are not a request of either door: malformed, odd, huge, deep, binary. */
	static Arbitrary<Body> hostileBodies() {
		Arbitrary<Body> odd = Arbitraries
			.of("", "null", "[]", "{}", "\"hi\"", "0", "true", "{\"prompt\":\"hi\"}{\"prompt\":\"hi\"}",
					"{\"prompt\":\"hi\"} x", "{'prompt':'hi'}", "{\"prompt\":\"hi\",}", "{\"prompt\":\"hi\" /* c */}",
					"\ufeff{\"prompt\":\"hi\"}", "{\"prompt\":NaN}", "{\"prompt\":\"hi\",\"max_tokens\":Infinity}",
					"{\"prompt\":\"\\uDEAD\"}", "{\"prompt\":\"hi\u0000\"}", "<xml/>", "prompt=hi",
					"--zz\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nhi\r\n--zz--",
					"{\"prompt\":\"hi\"\u0000}", "{\"prompt\"::\"hi\"}", "{\"prompt\":\"hi\"",
					"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}", "{{}}",
					"{\"a\":1,\"a\":2,\"prompt\":\"x\"}",
					"\"\\u0000\"", "[" + "1,".repeat(5000) + "1]")
			.map(text -> Body.of("odd document", text));
		Arbitrary<Body> random = Arbitraries.bytes()
			.array(byte[].class)
			.ofMaxSize(2000)
			.map(bytes -> Body.of("random bytes", bytes));
		Arbitrary<Body> truncated = Arbitraries.oneOf(startBodies(), chatBodies())
			.flatMap(json -> Arbitraries.integers()
				.between(0, Math.max(0, json.length() - 1))
				.map(end -> Body.of("truncated request", json.substring(0, end))));
		Arbitrary<Body> deep = Combinators
			.combine(Arbitraries.integers().between(1, 4000),
					Arbitraries.of("array", "object", "in metadata", "in messages", "unclosed"))
			.as((depth, where) -> Body.of("nested " + depth + " deep, " + where, nested(depth, where)));
		Arbitrary<Body> huge = Combinators
			.combine(Arbitraries.integers().between(1000, 3 * MAX_BODY_BYTES),
					Arbitraries.of("prompt", "number", "key", "whitespace"))
			.as((size, what) -> Body.of("huge " + what + " (" + size + ")", huge(size, what)));
		Arbitrary<byte[]> invalid = Arbitraries.of(new byte[] { (byte) 0xff }, new byte[] { (byte) 0xc0, (byte) 0xae },
				new byte[] { (byte) 0xed, (byte) 0xa0, (byte) 0x80 }, new byte[] { (byte) 0xe2, (byte) 0x82 },
				new byte[] { (byte) 0xf8, (byte) 0x88, (byte) 0x80, (byte) 0x80, (byte) 0x80 }, new byte[] { 0 });
		Arbitrary<Body> invalidUtf8 = Combinators
			.combine(startBodies(), invalid, Arbitraries.integers().between(0, 100))
			.as((json, bad, at) -> {
				byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
				int cut = Math.min(at, bytes.length);
				ByteArrayOutputStream out = new ByteArrayOutputStream();
				out.write(bytes, 0, cut);
				out.writeBytes(bad);
				out.write(bytes, cut, bytes.length - cut);
				return Body.of("invalid UTF-8 at " + cut, out.toByteArray());
			});
		return Arbitraries.frequencyOf(Tuple.of(3, odd), Tuple.of(2, random), Tuple.of(2, truncated), Tuple.of(2, deep),
				Tuple.of(2, huge), Tuple.of(2, invalidUtf8));
	}

	static String nested(int depth, String where) {
		String open = "{\"a\":".repeat(depth);
		String close = "}".repeat(depth);
		return switch (where) {
			case "array" -> "[".repeat(depth) + "]".repeat(depth);
			case "object" -> open + "1" + close;
			case "in metadata" -> "{\"prompt\":\"hi\",\"metadata\":" + open + "\"v\"" + close + "}";
			case "in messages" -> "{\"messages\":[{\"role\":\"user\",\"content\":" + "[".repeat(depth)
					+ "]".repeat(depth) + "}]}";
			default -> "{\"prompt\":" + "[".repeat(depth);
		};
	}

	static String huge(int size, String what) {
		return switch (what) {
			case "prompt" -> "{\"prompt\":\"" + "p".repeat(size) + "\",\"max_tokens\":1}";
			case "number" -> "{\"prompt\":\"hi\",\"max_tokens\":1" + "0".repeat(size) + "}";
			case "key" -> "{\"" + "k".repeat(size) + "\":1,\"prompt\":\"hi\"}";
			default -> " ".repeat(size) + "{\"prompt\":\"hi\",\"max_tokens\":1}";
		};
	}

	/**
	 * Native start requests: each field absent, valid or hostile, and sometimes a duplicated key.
	 * Valid ones ask for at most 3 tokens, so the streams they start end at once.
	 */
	static Arbitrary<String> startBodies() {
		Arbitrary<String> prompt = member("prompt", 6, 3, validText(), hostileStrings());
		Arbitrary<String> messages = member("messages", 6, 3, Arbitraries.of(VALID_MESSAGES), hostileMessages());
		Arbitrary<String> content = Arbitraries.frequencyOf(
				Tuple.of(5, prompt),
				Tuple.of(4, messages),
				Tuple.of(1, Combinators.combine(prompt, messages).as((p, m) -> p + "," + m)),
				Tuple.of(1, Arbitraries.just("")));
		return object(List.of(
				optional(member("model", 6, 3, Arbitraries.just("\"simulated\""), hostileModels())),
				content,
				optional(member("max_tokens", 6, 3, Arbitraries.of("1", "2", "3"), hostileIntegers())),
				optional(member("temperature", 6, 3, Arbitraries.of("0", "0.7", "2", "1.0"), hostileNumbers())),
				optional(member("background", 6, 3, Arbitraries.of("true", "false"), hostileBooleans())),
				optional(member("metadata", 6, 3, Arbitraries.of("{}", "{\"user_id\":\"u-42\"}"), hostileMetadata())),
				rarely(extraMembers())));
	}

	/** OpenAI chat requests, likewise; valid ones ask for at most 3 tokens. */
	static Arbitrary<String> chatBodies() {
		Arbitrary<String> messages = Arbitraries.frequencyOf(
				Tuple.of(4, Arbitraries.of(VALID_MESSAGES)),
				Tuple.of(1, Arbitraries.of("[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}]",
						"[{\"role\":\"developer\",\"content\":\"x\"},{\"role\":\"user\",\"content\":\"hi\"}]")));
		Arbitrary<String> hostileMessages = Arbitraries.oneOf(hostileMessages(), Arbitraries.of(
				"[{\"role\":\"tool\",\"content\":\"42\",\"tool_call_id\":\"c\"}]",
				"[{\"role\":\"function\",\"content\":\"42\",\"name\":\"f\"}]",
				"[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]",
				"[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\","
						+ "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}]",
				"[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]",
				"[{\"role\":\"user\",\"content\":[null]}]"));
		Arbitrary<String> options = Arbitraries.of("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]",
				"\"tools\":\"x\"", "\"tools\":[null]", "\"tool_choice\":5", "\"tool_choice\":\"auto\"",
				"\"logprobs\":true", "\"top_logprobs\":5", "\"user\":\"u\"", "\"seed\":1", "\"stop\":[\"x\"]",
				"\"stop\":5", "\"response_format\":\"x\"", "\"functions\":[{\"name\":\"f\"}]",
				"\"logit_bias\":{\"50256\":-100}", "\"logit_bias\":\"x\"", "\"top_p\":7", "\"metadata\":[1]",
				"\"metadata\":{\"k\":1}", "\"stream_options\":{\"include_usage\":true}");
		return object(List.of(
				optional(member("model", 6, 3, Arbitraries.just("\"simulated\""), hostileModels())),
				member("messages", 8, 3, messages, hostileMessages),
				optional(member("stream", 6, 2, Arbitraries.of("true", "false"), hostileBooleans())),
				optional(member("stream_options", 3, 2, Arbitraries.of("{\"include_usage\":true}"),
						Arbitraries.of("{\"include_usage\":1}", "[]", "\"x\"", "{\"include_usage\":null}", "null"))),
				optional(member("max_tokens", 6, 2, Arbitraries.of("1", "2", "3"), hostileIntegers())),
				optional(member("max_completion_tokens", 2, 2, Arbitraries.of("1", "3"), hostileIntegers())),
				optional(member("temperature", 3, 2, Arbitraries.of("0", "1"), hostileNumbers())),
				optional(member("n", 2, 2, Arbitraries.of("1"),
						Arbitraries.of("2", "0", "\"1\"", "1.5", "-1", "null"))),
				rarely(options),
				rarely(extraMembers())));
	}

	static final List<String> VALID_MESSAGES = List.of("[{\"role\":\"user\",\"content\":\"hi\"}]",
			"[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hello\"}]",
			"[{\"role\":\"assistant\",\"content\":\"x\"},{\"role\":\"user\",\"content\":\"y\"}]");

	/** A JSON object of the members that are present, sometimes with its first member twice. */
	static Arbitrary<String> object(List<Arbitrary<String>> members) {
		return Combinators.combine(Combinators.combine(members).as(List::copyOf), Arbitraries.integers().between(0, 9))
			.as((all, variant) -> {
				List<String> present = all.stream().filter(member -> !member.isEmpty()).toList();
				List<String> written = new ArrayList<>(present);
				if (variant == 0 && !present.isEmpty()) {
					written.add(present.get(0));
				}
				else if (variant == 1) {
					Collections.reverse(written);
				}
				return "{" + String.join(",", written) + "}";
			});
	}

	/** {@code "name":value}, the value valid or hostile by weight. */
	static Arbitrary<String> member(String name, int validWeight, int hostileWeight, Arbitrary<String> valid,
			Arbitrary<String> hostile) {
		return Arbitraries.frequencyOf(Tuple.of(validWeight, valid), Tuple.of(hostileWeight, hostile))
			.map(value -> "\"" + name + "\":" + value);
	}

	/** The member, or nothing (a quarter of the time). */
	static Arbitrary<String> optional(Arbitrary<String> member) {
		return Arbitraries.frequencyOf(Tuple.of(3, member), Tuple.of(1, Arbitraries.just("")));
	}

	/** The member one time in eight, else nothing. */
	static Arbitrary<String> rarely(Arbitrary<String> member) {
		return Arbitraries.frequencyOf(Tuple.of(1, member), Tuple.of(7, Arbitraries.just("")));
	}

	static Arbitrary<String> validText() {
		return Arbitraries.frequencyOf(
				Tuple.of(2, Arbitraries.just("\"hi\"")),
				Tuple.of(1, Arbitraries.strings()
					.alpha()
					.numeric()
					.withChars(" .,!?")
					.ofMaxLength(40)
					.map(text -> jsonString("p " + text))));
	}

	static Arbitrary<String> hostileStrings() {
		return Arbitraries.oneOf(
				Arbitraries.of("42", "true", "null", "\"\"", "\" \\n\\t \"", "[\"hi\"]", "{}", "\"\\ud800\"",
						"\"\\udc00x\\ud800\"", "\"a\u0001b\"", "\"\\u0000\"", "\"\ud83d\udca5\ud83d\udca5\"",
						"\"${jndi:ldap://x/a}\"", "\"\u202eevil\"", "\"\\\"", "'hi'", "\"hi"),
				Arbitraries.strings().all().ofMaxLength(60).map(HostileArbitraries::jsonString),
				Arbitraries.integers().between(200, 3 * MAX_BODY_BYTES).map(n -> "\"" + "x".repeat(n) + "\""));
	}

	static Arbitrary<String> hostileModels() {
		return Arbitraries.oneOf(
				Arbitraries.of("42", "null", "\"\"", "\"nope\"", "\"nowhere/simulated\"", "\"simulated/x\"",
						"\"../simulated\"", "\"SIMULATED\"", "\" simulated\"", "\"simulated\\u0000\"",
						"[\"simulated\"]", "{\"name\":\"simulated\"}", "true", "\"\u6a21\u578b\"",
						"\"" + "m".repeat(300) + "\"", "\"/\"", "\"openai/\"", "\"%2e%2e\""),
				Arbitraries.strings().all().ofMaxLength(30).map(HostileArbitraries::jsonString));
	}

	static Arbitrary<String> hostileMessages() {
		String hi = "{\"role\":\"user\",\"content\":\"hi\"}";
		return Arbitraries.oneOf(
				Arbitraries.of("[]", "{}", "\"hi\"", "[null]", "[7]", "[[]]", "null",
						"[{\"role\":\"tool\",\"content\":\"x\"}]", "[{\"content\":\"x\"}]", "[{\"role\":\"user\"}]",
						"[{\"role\":\"user\",\"content\":42}]", "[{\"role\":\"User\",\"content\":\"x\"}]",
						"[{\"role\":\"user\",\"content\":\"hi\",\"role\":\"system\"}]",
						"[{\"role\":null,\"content\":null}]", "[{\"role\":\"user\",\"content\":{}}]",
						"[{\"role\":\"user\",\"content\":\"\"}]", "[{\"role\":\"\\u0000\",\"content\":\"x\"}]"),
				Arbitraries.integers()
					.between(2, 600)
					.map(n -> "[" + String.join(",", Collections.nCopies(n, hi)) + "]"),
				hostileStrings().map(text -> "[{\"role\":\"user\",\"content\":" + text + "}]"));
	}

	static Arbitrary<String> hostileIntegers() {
		return Arbitraries.oneOf(
				Arbitraries.of("0", "-1", "4097", "1.5", "\"2\"", "99999999999", "1e2", "1E400", "-0", "null", "true",
						"2147483648", "-2147483649", "[1]", "0x10", "+1", "01", "1.0", "{}"),
				Arbitraries.integers().between(20, 300).map("9"::repeat));
	}

	static Arbitrary<String> hostileNumbers() {
		return Arbitraries.oneOf(
				Arbitraries.of("-0.1", "2.0000001", "\"0.5\"", "1e400", "-1e400", "NaN", "Infinity", "-Infinity",
						"null", "[]", "1e-400", "0.0000000000000000000000001", "true"),
				Arbitraries.integers().between(20, 300).map(n -> "1." + "1".repeat(n)));
	}

	static Arbitrary<String> hostileBooleans() {
		return Arbitraries.of("\"yes\"", "1", "0", "null", "\"true\"", "[]", "True", "tru");
	}

	static Arbitrary<String> hostileMetadata() {
		return Arbitraries.oneOf(
				Arbitraries.of("[]", "\"x\"", "{\"k\":1}", "{\"k\":null}", "{\"k\":{}}", "{\"k\":[\"v\"]}",
						"{\"\":\"v\"}", "{\"a\":\"1\",\"a\":\"2\"}", "{\"\\u0000\":\"v\"}", "{\"k\":\"\\u0000\"}",
						"null", "{\"\u043a\u043b\u044e\u0447\":\"\u0437\u043d\u0430\u0447\u0435\u043d\u0438\u0435\"}"),
				Arbitraries.integers()
					.between(17, 200)
					.map(n -> IntStream.range(0, n)
						.mapToObj(i -> "\"k" + i + "\":\"v\"")
						.collect(Collectors.joining(",", "{", "}"))),
				Arbitraries.integers().between(65, 2000).map(n -> "{\"" + "k".repeat(n) + "\":\"v\"}"),
				Arbitraries.integers().between(513, 20000).map(n -> "{\"note\":\"" + "v".repeat(n) + "\"}"));
	}

	static Arbitrary<String> extraMembers() {
		return Arbitraries.of("\"id\":\"" + UNKNOWN_ID + "\"", "\"owner\":\"bob\"", "\"status\":\"completed\"",
				"\"__proto__\":{\"admin\":true}", "\"stream\":true", "\"" + "n".repeat(1100) + "\":1", "\"\":1",
				"\"x\":" + "[".repeat(40) + "]".repeat(40), "\"tools\":[]", "\"background\":true",
				"\"padding\":\"" + "x".repeat(MAX_BODY_BYTES) + "\"", "\"\\u0000\":0");
	}

	/** A JSON string literal of any text: quotes, backslashes and control characters escaped. */
	static String jsonString(String text) {
		StringBuilder json = new StringBuilder("\"");
		for (int i = 0; i < text.length(); i++) {
			char c = text.charAt(i);
			if (c == '"' || c == '\\') {
				json.append('\\').append(c);
			}
			else if (c < 0x20 || Character.isSurrogate(c)) {
				json.append(String.format("\\u%04x", (int) c));
			}
			else {
				json.append(c);
			}
		}
		return json.append('"').toString();
	}

}
