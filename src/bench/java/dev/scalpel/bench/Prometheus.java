package dev.scalpel.bench;

import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A Prometheus text page, read by series name and labels. */
record Prometheus(String text) {

	/**
	 * The sum of the values of every series named {@code name} whose labels contain all of
	 * {@code labels} (each written as {@code key="value"}); NaN when there is none.
	 */
	double value(String name, String... labels) {
		double sum = 0;
		boolean found = false;
		for (String line : this.text.split("\n")) {
			if (line.startsWith("#") || !(line.startsWith(name + "{") || line.startsWith(name + " "))) {
				continue;
			}
			boolean matches = true;
			for (String label : labels) {
				matches &= line.contains(label);
			}
			if (matches) {
				sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
				found = true;
			}
		}
		return found ? sum : Double.NaN;
	}

	/** The page with only the series of the meter {@code name} (any suffix) that carry {@code label}. */
	Prometheus only(String name, String label) {
		StringBuilder kept = new StringBuilder();
		for (String line : this.text.split("\n")) {
			if (line.startsWith(name) && line.contains(label)) {
				kept.append(line).append('\n');
			}
		}
		return new Prometheus(kept.toString());
	}

	/**
	 * The {@code quantile} of what a histogram recorded between {@code before} and this page, at its
	 * buckets' resolution: the upper bound ({@code le}, in the histogram's unit) of the first bucket
	 * that holds that share of the observations made in between; NaN when none was made.
	 */
	double quantileSince(Prometheus before, String histogram, double quantile) {
		TreeMap<Double, Double> after = buckets(histogram);
		if (after.isEmpty()) {
			return Double.NaN;
		}
		TreeMap<Double, Double> earlier = before.buckets(histogram);
		double total = after.lastEntry().getValue() - earlier.getOrDefault(after.lastKey(), 0.0);
		if (total <= 0) {
			return Double.NaN;
		}
		for (Map.Entry<Double, Double> bucket : after.entrySet()) {
			double count = bucket.getValue() - earlier.getOrDefault(bucket.getKey(), 0.0);
			if (count >= quantile * total) {
				return bucket.getKey();
			}
		}
		return Double.POSITIVE_INFINITY;
	}

	/** A histogram's cumulative bucket counts by upper bound, summed over its series; +Inf last. */
	private TreeMap<Double, Double> buckets(String histogram) {
		TreeMap<Double, Double> buckets = new TreeMap<>();
		Pattern le = Pattern.compile("le=\"([^\"]+)\"");
		for (String line : this.text.split("\n")) {
			if (!line.startsWith(histogram + "_bucket{")) {
				continue;
			}
			Matcher bound = le.matcher(line);
			if (bound.find()) {
				double upper = bound.group(1).equals("+Inf") ? Double.POSITIVE_INFINITY : Double.parseDouble(bound.group(1));
				buckets.merge(upper, Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)), Double::sum);
			}
		}
		return buckets;
	}

}
