package dev.scalpel.slot;

/** Every slot is held and the wait queue is at its bound: the request was not queued. */
public final class QueueFull extends RuntimeException {

	QueueFull(int queueMax) {
		super("all slots are busy and the wait queue is full (" + queueMax + " waiting)", null, false, false);
	}

}
