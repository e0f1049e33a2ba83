package dev.scalpel.slot;

/**
 * One slot of a {@link SlotPool}, held by exactly one stream. {@link #release()} is idempotent:
 * whichever path ends a stream first gives the slot back, every later call is a no-op.
 */
public interface Permit {

	/** Gives the slot back (or hands it to the next waiter). Safe to call any number of times. */
	void release();

	/** Whether this permit has been released. */
	boolean released();

}
