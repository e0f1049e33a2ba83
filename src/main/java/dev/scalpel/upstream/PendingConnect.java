package dev.scalpel.upstream;

import io.netty.channel.Channel;
import org.jspecify.annotations.Nullable;
import reactor.netty.ConnectionObserver;
import reactor.util.context.Context;
import reactor.util.context.ContextView;

/**
 * Closes the connection a call is still opening when the call is cancelled. Reactor Netty's pool
 * does not: a connect whose borrower has gone away carries on, so that the connection can be pooled,
 * and holds a socket half-open until the connect succeeds or times out. For a provider that is slow
 * to accept, that is the capacity we promise to give back at once, so the channel is closed here.
 *
 * <p>The call carries one of these in its Reactor context; the client's channel-init hook, which runs
 * before the TCP connect starts and sees the context of the call that asked for the connection,
 * registers the channel with it. A channel that has connected is left alone: cancelling the call
 * closes a connection with a response under way in the normal course.
 */
final class PendingConnect {

	private static final String KEY = PendingConnect.class.getName();

	private @Nullable Channel channel;

	private boolean cancelled;

	/** The context of a call that closes its connect when cancelled. */
	Context context() {
		return Context.of(KEY, this);
	}

	/** For {@code HttpClient.doOnChannelInit}: ties a new channel to the call that asked for it. */
	static void channelInit(ConnectionObserver observer, Channel channel) {
		ContextView context = observer.currentContext();
		if (context.hasKey(KEY)) {
			context.<PendingConnect>get(KEY).opening(channel);
		}
	}

	synchronized void opening(Channel channel) {
		this.channel = channel;
		if (this.cancelled) {
			channel.close();
		}
	}

	/** The call was cancelled: a connect still under way is abandoned. */
	void cancel() {
		Channel opening;
		synchronized (this) {
			this.cancelled = true;
			opening = this.channel;
		}
		if (opening != null && !opening.isActive()) {
			opening.close();
		}
	}

}
