package dev.scalpel.upstream;

import io.netty.channel.Channel;
import org.jspecify.annotations.Nullable;
import reactor.util.context.Context;
import reactor.util.context.ContextView;

/**
 * The channel of one upstream call, so that cancelling the call closes it whatever the call was
 * doing. Reactor Netty and Spring close it in the normal course, but not in two windows, and a
 * channel left open there keeps the provider generating:
 * <ul>
 * <li>while connecting, Reactor Netty's pool finishes a connect whose borrower has gone, to pool the
 * connection, and so holds a half-open socket until the connect succeeds or times out;
 * <li>between the response headers and the subscription to the body, Spring's client connector
 * answers a cancel by draining the body to release the connection, which for a stream of tokens
 * means reading the whole generation.
 * </ul>
 * The call carries one of these in its Reactor context; the client's channel-init hook (before the
 * TCP connect starts) and request hook (for a pooled connection too) register the channel with it.
 * A call whose response was read to its end leaves its channel alone: it went back to the pool.
 */
final class CallChannel {

	private static final String KEY = CallChannel.class.getName();

	private @Nullable Channel channel;

	private boolean cancelled;

	private boolean complete;

	/** The context of a call that closes its channel when cancelled. */
	Context context() {
		return Context.of(KEY, this);
	}

	/** For the client's hooks: ties a channel to the call whose context this is. */
	static void register(ContextView context, Channel channel) {
		if (context.hasKey(KEY)) {
			context.<CallChannel>get(KEY).using(channel);
		}
	}

	synchronized void using(Channel channel) {
		this.channel = channel;
		if (this.cancelled && !this.complete) {
			channel.close();
		}
	}

	/** The response was read to its end: the channel is the pool's again. */
	synchronized void complete() {
		this.complete = true;
	}

	/** The call was cancelled: its channel is closed unless its response was read to the end. */
	void cancel() {
		Channel open;
		synchronized (this) {
			this.cancelled = true;
			open = this.complete ? null : this.channel;
		}
		if (open != null) {
			open.close();
		}
	}

}
