package dev.scalpel.stream;

/** What became of a piece of output appended to a stream. */
enum Appended {

	/** The stream had ended: the token was dropped. */
	DROPPED,
	/** The stream's first token. */
	FIRST,
	/** A later token. */
	NEXT

}
