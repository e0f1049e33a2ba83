package dev.scalpel.stream;

import org.springframework.http.HttpStatus;

import dev.scalpel.system.ProblemAnswer;
import dev.scalpel.system.Problems;

/** Redis mode: the shared store is unreachable, so a new stream could not be seen by other replicas. */
public final class ClusterUnavailable extends ProblemAnswer {

	public ClusterUnavailable() {
		super(HttpStatus.SERVICE_UNAVAILABLE, Problems.of(HttpStatus.SERVICE_UNAVAILABLE, "cluster_unavailable",
				"Shared store unavailable", "This instance cannot reach Redis and takes no new streams; retry shortly."),
				null);
	}

}
