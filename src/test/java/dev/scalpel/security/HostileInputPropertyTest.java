package dev.scalpel.security;

import java.io.IOException;
import java.util.Objects;

import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import net.jqwik.api.statistics.Statistics;
import org.jspecify.annotations.Nullable;

import dev.scalpel.security.hostile.HostileArbitraries;
import dev.scalpel.security.hostile.HostileHttp;
import dev.scalpel.security.hostile.HostileOracle;
import dev.scalpel.security.hostile.HostileRequest;
import dev.scalpel.security.hostile.HostileService;

import static dev.scalpel.security.hostile.HostileService.TIMEOUT;

/**
 * Thousands of generated hostile requests against every endpoint of the running service, with API
 * keys configured so that the security layer is under attack too: any method, a path that is a real
 * endpoint or not, dressed with double slashes, dot segments, encoded slashes, NULs, matrix
 * parameters and raw non-ASCII bytes, an id that is another key's real stream, an unknown one, a
 * malformed or a huge one, hostile query values ({@code after}, {@code limit}, {@code status},
 * {@code token}), credentials that are missing, wrong, malformed, huge, non-ASCII, duplicated or
 * another key's, hostile {@code Content-Type}, {@code Accept}, {@code Last-Event-ID}, {@code Origin}
 * and {@code Host} headers, and bodies that are random bytes, truncated or deeply nested JSON,
 * huge strings and numbers, wrong types in every field of the native start request and of the
 * OpenAI chat request, duplicate keys, oversized metadata, invalid UTF-8 and control characters.
 * Requests are written byte for byte on a raw socket ({@link HostileHttp}), as no well-behaved client
 * would send them.
 *
 * <p>For every request, whatever it is:
 * <ul>
 * <li>the answer comes within a bounded time and is never a {@code 5xx} (nor a redirect, outside
 * Swagger UI);</li>
 * <li>an error is an RFC 9457 problem detail (OpenAI's error object on {@code /v1/chat/} and
 * {@code /v1/models}), except the
 * bodiless {@code 400}, {@code 414} and {@code 431} that Netty answers before the application runs
 * for requests it cannot parse or whose head is too large; no body names a Java class, a package or a
 * stack frame;</li>
 * <li>a success goes only to whom it may: nothing on {@code /v1} without a valid key (a CORS
 * preflight and an attach token for that very stream's events aside), no other key's stream seen,
 * attached to, or handed an attach token for (an administrator sees and cancels, never reads);</li>
 * <li>once the client has closed the connection (at once, for an event stream), no listener of the
 * request is left attached;</li>
 * <li>the "victims", streams started before the attack (alice's completed one, her running
 * background one, her started-but-never-attached one, and bob's running one), are exactly as they
 * were: the same status, after every single request. A request whose credentials could
 * legitimately change a live victim (its owner's key, or the administrator's) is pointed at the
 * completed victim instead, whose status must not change either.</li>
 * </ul>
 * After all properties ({@link #theServiceStillWorksAndLeakedNothing()}): the victims' status
 * objects are byte for byte as before on the wire and the completed one replays the same events;
 * the live ones end only when their owners cancel them, their event sequences whole (ids
 * consecutive from 1, their tokens, one terminal event, last) and their upstream calls closed; a
 * normal stream still runs end to end on both front doors; and once every stream is ended no slot,
 * queue entry, listener or upstream call is left and the leak auditor (run every 2 s here)
 * reclaimed nothing.
 *
 * <p>jqwik chooses the seeds and prints the one of a failing property; re-run it with
 * {@code @Property(seed = "...")}. jqwik does not run Spring's JUnit extension, so the application
 * is started here, once for the class, as {@code @ScalpelTest} would (the {@code test} profile, random
 * ports, the {@code controlled} model besides {@code simulated}).
 *
 * <p>The parts live in {@code dev.scalpel.security.hostile}: the request model
 * ({@link HostileRequest}), its generators ({@link HostileArbitraries}), what a correct answer is
 * ({@link HostileOracle}), the running service and its victims ({@link HostileService}) and the raw
 * client ({@link HostileHttp}).
 */
class HostileInputPropertyTest {

	private static @Nullable HostileService service;

	// ---------------------------------------------------------------------------------------------
	// The properties

	/** Anything at all: every method, endpoint, path shape, id, query, credential, header and body. */
	@Property(tries = 3000)
	void anyHostileRequestIsAnsweredSafely(@ForAll("anyRequests") HostileRequest request) throws IOException {
		attack(request);
	}

	/**
	 * Bodies first: the two start endpoints, mostly with a valid key and a JSON content type so that
	 * the body reaches the parser and the validator, which is where hostile bodies can do harm.
	 */
	@Property(tries = 1500)
	void hostileBodiesToTheStartEndpointsAreAnsweredSafely(@ForAll("startRequests") HostileRequest request)
			throws IOException {
		attack(request);
	}

	/**
	 * Isolation first: the endpoints of one stream, mostly aimed at the victims, with another key's,
	 * the administrator's, a wrong or no key, attach tokens (valid, for another stream, tampered,
	 * spliced), hostile ids, queries and {@code Last-Event-ID}.
	 */
	@Property(tries = 1500)
	void hostileRequestsForOtherCallersStreamsAreAnsweredSafely(@ForAll("streamRequests") HostileRequest request)
			throws IOException {
		attack(request);
	}

	/**
	 * Sends one request and checks the answer, then that it left no listener attached once its
	 * connection was closed, and that no victim changed.
	 */
	private static void attack(HostileRequest request) throws IOException {
		HostileService service = service();
		// Listeners attached before this request (of a request that failed earlier, say) are not its own.
		int listeners = service.manager().listenerCount();
		HostileHttp.Response response;
		try {
			response = HostileHttp.exchange(service.port(), request.wire(service), request.head(), false, TIMEOUT);
		}
		catch (HostileHttp.Timeout ex) {
			throw new AssertionError("No answer within " + TIMEOUT + " (the service hangs) to " + request, ex);
		}
		catch (HostileHttp.NoResponse ex) {
			throw new AssertionError("No complete answer (" + ex.getMessage() + ") to " + request, ex);
		}
		Statistics.label("status").collect(response.status());
		HostileOracle.assertAnswer(service, request, response);
		HostileOracle.assertNoListenerLeft(service, request, response, listeners);
		HostileOracle.assertVictimsUnchanged(service, request);
	}

	@Provide
	Arbitrary<HostileRequest> anyRequests() {
		return HostileArbitraries.anyRequests();
	}

	@Provide
	Arbitrary<HostileRequest> startRequests() {
		return HostileArbitraries.startRequests();
	}

	@Provide
	Arbitrary<HostileRequest> streamRequests() {
		return HostileArbitraries.streamRequests();
	}

	static HostileService service() {
		return Objects.requireNonNull(service, "the service was not started");
	}

	@BeforeContainer
	static void startTheServiceAndItsVictims() throws Exception {
		service = HostileService.startTheServiceAndItsVictims();
	}

	/**
	 * After all properties: the victims' event sequences are whole, a normal stream still runs end to
	 * end on both front doors, and once everything is ended nothing is held or was leaked.
	 */
	@AfterContainer
	static void theServiceStillWorksAndLeakedNothing() throws Exception {
		HostileService service = HostileInputPropertyTest.service;
		if (service == null) {
			// It did not start: that failure is reported already.
			return;
		}
		try {
			HostileOracle.assertTheServiceStillWorksAndLeakedNothing(service);
		}
		finally {
			service.close();
			HostileInputPropertyTest.service = null;
		}
	}

}
