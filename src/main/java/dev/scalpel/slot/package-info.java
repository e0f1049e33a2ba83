/**
 * Bounded upstream capacity: a fair, non-blocking semaphore of slots with a bounded wait queue.
 */
@NullMarked
package dev.scalpel.slot;

import org.jspecify.annotations.NullMarked;
