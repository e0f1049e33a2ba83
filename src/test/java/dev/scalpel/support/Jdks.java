package dev.scalpel.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.function.IntPredicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The Java installations of this machine, by the {@code release} file of each JDK: for the tests and
 * the benchmark that run a JVM of the version the container image has rather than their own.
 */
public final class Jdks {

	private static final Path SYSTEM = Path.of("/usr/lib/jvm");

	private Jdks() {
	}

	/** The JDK homes installed in the system's place ({@code /usr/lib/jvm}), sorted; none elsewhere. */
	public static List<Path> installed() {
		if (!Files.isDirectory(SYSTEM)) {
			return List.of();
		}
		try (Stream<Path> homes = Files.list(SYSTEM)) {
			return homes.sorted().toList();
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

	/** The {@code java} launcher of the first of these homes whose feature version passes the test. */
	public static Optional<String> find(List<Path> homes, IntPredicate feature) {
		for (Path home : homes) {
			Path java = home.resolve("bin").resolve("java");
			if (Files.isExecutable(java) && feature.test(featureOf(version(java.toString())))) {
				return Optional.of(java.toString());
			}
		}
		return Optional.empty();
	}

	/** The feature version of a {@code java.version} string ({@code 25.0.3}), or -1. */
	public static int featureOf(String version) {
		Matcher feature = Pattern.compile("^(?:1\\.)?(\\d+)").matcher(version);
		return feature.find() ? Integer.parseInt(feature.group(1)) : -1;
	}

	/** The {@code java.version} of a launcher, from its JDK's {@code release} file ("unknown" if none). */
	public static String version(String java) {
		try {
			// Through links (/usr/bin/java) to the JDK's own bin/java.
			Path release = Path.of(java).toRealPath().getParent().getParent().resolve("release");
			Matcher version = Pattern.compile("(?m)^JAVA_VERSION=\"([^\"]+)\"").matcher(Files.readString(release));
			return version.find() ? version.group(1) : "unknown";
		}
		catch (IOException ex) {
			return "unknown";
		}
	}

}
