package dev.scalpel.system;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;

import org.jspecify.annotations.Nullable;
import org.reactivestreams.Publisher;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.Sinks;

import org.springframework.core.ResolvableType;
import org.springframework.core.io.buffer.DataBuffer;
import org.springframework.core.io.buffer.DataBufferFactory;
import org.springframework.http.MediaType;
import org.springframework.http.ReactiveHttpOutputMessage;
import org.springframework.http.codec.HttpMessageWriter;

/**
 * A response body of ready SSE frames, written as they are.
 *
 * <p>The frames of a stream are the same bytes for all its listeners, so they are encoded once (not
 * again per listener, as Spring's SSE writer would), and {@code writeWith} lets Reactor Netty flush
 * when no more frames are ready, so one flush carries whatever a listener had pending.
 *
 * <p>The frames are wrapped, not copied, in buffers of the response's own factory: on Reactor Netty
 * a Netty buffer over the frame's array, which the server writes as it is
 * ({@code docs/adr/event-stream-writer.md}).
 * @param frames the frames, each a complete SSE frame or comment; never modified
 */
public record EventStream(Flux<byte[]> frames) {

	static final MediaType CONTENT_TYPE = new MediaType(MediaType.TEXT_EVENT_STREAM, StandardCharsets.UTF_8);

	private static final byte[] KEEP_ALIVE = ": keep-alive\n\n".getBytes(StandardCharsets.UTF_8);

	/**
	 * The frames, with a keep-alive comment every {@code heartbeat} while they are quiet (API.md): a
	 * comment keeps proxies from closing a quiet connection, and the comments end with the frames.
	 * A tick of the heartbeat that finds a frame since the last tick writes nothing, so the first
	 * comment comes one to two intervals after the last frame; a per-frame timer would cost a
	 * schedule and a cancel per token.
	 */
	public static EventStream withHeartbeats(Flux<byte[]> frames, Duration heartbeat) {
		Sinks.Empty<Void> ended = Sinks.empty();
		AtomicBoolean framed = new AtomicBoolean();
		Flux<byte[]> body = frames.doOnNext(frame -> framed.lazySet(true)).doFinally(signal -> ended.tryEmitEmpty());
		Flux<byte[]> heartbeats = Flux.interval(heartbeat, heartbeat)
			.onBackpressureDrop()
			.filter(tick -> !framed.getAndSet(false))
			.map(tick -> KEEP_ALIVE)
			.takeUntilOther(ended.asMono());
		return new EventStream(Flux.merge(body, heartbeats));
	}

	/**
	 * The frames of a batch of items back to back in one array, so that the batch leaves as one write
	 * and one HTTP chunk rather than one per frame; items without a frame (null) are left out. Null when
	 * no item has a frame.
	 */
	public static <T> byte @Nullable [] join(List<T> batch, Function<? super T, byte @Nullable []> frame) {
		if (batch.size() == 1) {
			return frame.apply(batch.get(0));
		}
		byte[][] frames = new byte[batch.size()][];
		int length = 0;
		int count = 0;
		for (T item : batch) {
			byte[] one = frame.apply(item);
			if (one != null && one.length > 0) {
				frames[count++] = one;
				length += one.length;
			}
		}
		if (count <= 1) {
			return (count == 1) ? frames[0] : null;
		}
		byte[] joined = new byte[length];
		int at = 0;
		for (int i = 0; i < count; i++) {
			System.arraycopy(frames[i], 0, joined, at, frames[i].length);
			at += frames[i].length;
		}
		return joined;
	}

	/** Writes {@link EventStream} bodies; registered with the server's codecs. */
	public static final class Writer implements HttpMessageWriter<EventStream> {

		@Override
		public List<MediaType> getWritableMediaTypes() {
			return List.of(MediaType.TEXT_EVENT_STREAM);
		}

		@Override
		public boolean canWrite(ResolvableType elementType, @Nullable MediaType mediaType) {
			return EventStream.class.isAssignableFrom(elementType.toClass())
					&& (mediaType == null || MediaType.TEXT_EVENT_STREAM.isCompatibleWith(mediaType));
		}

		@Override
		public Mono<Void> write(Publisher<? extends EventStream> body, ResolvableType elementType,
				@Nullable MediaType mediaType, ReactiveHttpOutputMessage message, Map<String, Object> hints) {
			message.getHeaders().setContentType(CONTENT_TYPE);
			DataBufferFactory buffers = message.bufferFactory();
			return Mono.from(body)
				.flatMap(stream -> message.writeWith(stream.frames().map(frame -> (DataBuffer) buffers.wrap(frame))));
		}

	}

}
