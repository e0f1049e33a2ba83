package dev.scalpel.stream;

/** Which streams a guarded terminal transition may end. */
enum Guard {

	/** Always. */
	NONE,
	/** Only while no listener is attached (disconnect grace). */
	UNATTENDED,
	/** Only if no listener ever attached (attach timeout). */
	NEVER_ATTACHED

}
