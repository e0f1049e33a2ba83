package dev.scalpel.stream;

import java.util.List;

/** One page of {@code GET /v1/streams}, newest first. */
public record StreamPage(String object, List<StreamView> data, boolean hasMore) {

	public static StreamPage of(List<StreamView> data, boolean hasMore) {
		return new StreamPage("list", data, hasMore);
	}

}
