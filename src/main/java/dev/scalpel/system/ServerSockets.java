package dev.scalpel.system;

import io.netty.channel.ChannelOption;
import io.netty.channel.ServerChannelRecvByteBufAllocator;

import org.springframework.boot.reactor.netty.NettyServerCustomizer;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * How many waiting connections the server accepts per turn of its event loop. Netty's epoll server
 * channel accepts <em>one</em> per turn: its read loop asks "may there be more?" by comparing the
 * bytes read with the bytes tried, which for an accept (a file descriptor against 1) always says no,
 * and its level-triggered poll comes back next turn for the next one. With one loop per core and a
 * core busy with a thousand streams, a turn takes about 10 ms, so under connection churn new
 * connections (new streams, and cancels: the requests that free capacity) waited in the kernel's
 * accept queue, where no metric sees them and no {@code 429} is answered: the {@code churn}
 * benchmark found 1,200 connections queued there, draining at 90 a second, and cancel round trips
 * of 15 to 20 s. Ignoring that guess and accepting up to {@code accepts-per-turn} lets them in, where
 * the slot pool's queue and its {@code 429} decide what waits.
 */
@Configuration(proxyBeanMethods = false)
class ServerSockets {

	@Bean
	NettyServerCustomizer acceptsPerTurn(AcceptProperties accept) {
		return server -> server.option(ChannelOption.RCVBUF_ALLOCATOR, allocator(accept.acceptsPerTurn()));
	}

	static ServerChannelRecvByteBufAllocator allocator(int acceptsPerTurn) {
		ServerChannelRecvByteBufAllocator allocator = new ServerChannelRecvByteBufAllocator();
		allocator.respectMaybeMoreData(false);
		allocator.maxMessagesPerRead(acceptsPerTurn);
		return allocator;
	}

}
