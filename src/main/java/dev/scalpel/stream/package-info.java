/**
 * The stream feature: managed generations with a state machine, a bounded event log and any
 * number of listeners, started, attached to, cancelled and queried over HTTP.
 */
@NullMarked
package dev.scalpel.stream;

import org.jspecify.annotations.NullMarked;
