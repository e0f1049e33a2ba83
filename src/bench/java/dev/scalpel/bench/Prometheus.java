package dev.scalpel.bench;

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

}
