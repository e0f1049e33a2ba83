package dev.scalpel.upstream;

import java.util.List;

/** The configured provider endpoints, in configured order. */
public record UpstreamEndpoints(List<RemoteTokenSource> sources) {

	public UpstreamEndpoints {
		sources = List.copyOf(sources);
	}

}
