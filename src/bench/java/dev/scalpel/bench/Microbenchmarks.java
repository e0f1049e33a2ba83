package dev.scalpel.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.regex.Pattern;

import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

import dev.scalpel.slot.SlotPoolBenchmark;
import dev.scalpel.stream.EventLogBenchmark;

/**
 * Runs the JMH microbenchmarks of {@code src/bench/java} through the JMH Runner API: the slot pool
 * under contention ({@link SlotPoolBenchmark}) and the token path of a stream with its listeners
 * ({@link EventLogBenchmark}).
 *
 * <p>The settings keep the whole run near 50 seconds on two cores: one fork per benchmark and
 * parameter set (14 of them), two warm-up iterations of half a second and two measured ones of 0.6
 * seconds each. That is enough for stable means on these short operations but gives wide error bars
 * (the 99.9% interval of two samples); the figures compare configurations of this code on one machine,
 * they are not absolute, and anything else running on the machine shows in them.
 *
 * <p>Each fork is a fresh JVM started with this JVM's class path ({@code java.class.path}), so this
 * must be launched with the test class path, as the {@code bench} profile's exec plugin does.
 */
public final class Microbenchmarks {

	/** The heap of each forked benchmark JVM, fixed so that runs compare. */
	private static final String[] FORK_JVM_ARGS = { "-Xms512m", "-Xmx512m" };

	private Microbenchmarks() {
	}

	/**
	 * One figure of one benchmark with one set of parameters.
	 * @param benchmark the benchmark, as {@code Class.method}, e.g. {@code SlotPoolBenchmark.twoThreads}
	 * @param params its parameters as {@code name=value}, comma-separated, empty when it has none
	 * @param score the mean over the measured iterations
	 * @param error the half-width of the 99.9% confidence interval; NaN with fewer than two iterations
	 * @param unit the unit of score and error, e.g. {@code ops/us} or {@code ns/op}
	 */
	public record Result(String benchmark, String params, double score, double error, String unit) {
	}

	/**
	 * Runs every microbenchmark, writes JMH's JSON result to {@code outDir/jmh.json} and returns one
	 * result per benchmark and parameter set (the primary metric; secondary metrics such as the slot
	 * pool's {@code queued} count are in the JSON and in JMH's printed summary).
	 * @throws UncheckedIOException when {@code outDir} cannot be created
	 * @throws IllegalStateException when a benchmark fails (JMH's {@link RunnerException} as its cause)
	 */
	public static List<Result> run(Path outDir) {
		try {
			Files.createDirectories(outDir);
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
		Options options = new OptionsBuilder()
			.include("^" + Pattern.quote(SlotPoolBenchmark.class.getName()) + "\\.")
			.include("^" + Pattern.quote(EventLogBenchmark.class.getName()) + "\\.")
			.forks(1)
			.warmupIterations(2)
			.warmupTime(TimeValue.milliseconds(500))
			.measurementIterations(2)
			.measurementTime(TimeValue.milliseconds(600))
			.jvmArgs(FORK_JVM_ARGS)
			.shouldFailOnError(true)
			.resultFormat(ResultFormatType.JSON)
			.result(outDir.resolve("jmh.json").toString())
			.build();
		Collection<RunResult> runs;
		try {
			runs = new Runner(options).run();
		}
		catch (RunnerException ex) {
			throw new IllegalStateException("the microbenchmarks failed: " + ex.getMessage(), ex);
		}
		List<Result> results = new ArrayList<>(runs.size());
		for (RunResult run : runs) {
			BenchmarkParams params = run.getParams();
			org.openjdk.jmh.results.Result<?> primary = run.getPrimaryResult();
			results.add(new Result(shortName(params.getBenchmark()), params(params), primary.getScore(),
					primary.getScoreError(), primary.getScoreUnit()));
		}
		return results;
	}

	/** {@code dev.scalpel.slot.SlotPoolBenchmark.oneThread} as {@code SlotPoolBenchmark.oneThread}. */
	private static String shortName(String benchmark) {
		int method = benchmark.lastIndexOf('.');
		int type = benchmark.lastIndexOf('.', method - 1);
		return benchmark.substring(type + 1);
	}

	private static String params(BenchmarkParams params) {
		List<String> pairs = new ArrayList<>();
		for (String key : params.getParamsKeys()) {
			pairs.add(key + "=" + params.getParam(key));
		}
		return String.join(",", pairs);
	}

	/** Runs the microbenchmarks alone, writing {@code target/bench/jmh.json}, and prints the figures. */
	public static void main(String[] args) {
		List<Result> results = run(Path.of("target", "bench"));
		System.out.println();
		System.out.printf("%-34s %-14s %14s %12s  %s%n", "benchmark", "params", "score", "error", "unit");
		for (Result result : results) {
			System.out.printf("%-34s %-14s %14.3f %12.3f  %s%n", result.benchmark(), result.params(), result.score(),
					result.error(), result.unit());
		}
	}

}
