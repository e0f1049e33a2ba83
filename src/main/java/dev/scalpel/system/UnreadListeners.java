package dev.scalpel.system;

import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;

/**
 * A listener is attached when its request is handled, and connected when its answer's body is
 * subscribed. If the answer is never written (it failed after the handler returned, or the client
 * closed its connection first), the body is never subscribed; the listener would then count as
 * attached until the attach timeout, holding a live stream's slot. This ties it to its exchange
 * instead: when the exchange ends, a listener that never connected leaves (a no-op for one that did).
 */
public final class UnreadListeners {

	private static final String ATTRIBUTE = UnreadListeners.class.getName();

	private UnreadListeners() {
	}

	/** Registers what to call, when the exchange ends, for the listener its answer carries. */
	public static void register(ServerWebExchange exchange, Runnable abandon) {
		exchange.getAttributes().put(ATTRIBUTE, abandon);
	}

	/** Calls what was registered once the exchange has ended, however it ended. */
	static WebFilter filter() {
		return (exchange, chain) -> chain.filter(exchange).doFinally(signal -> {
			if (exchange.getAttributes().remove(ATTRIBUTE) instanceof Runnable abandon) {
				abandon.run();
			}
		});
	}

}
