package dev.scalpel.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import org.HdrHistogram.Histogram;
import org.jspecify.annotations.Nullable;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import tools.jackson.databind.json.JsonMapper;

import dev.scalpel.bench.LoadGenerator.Api;
import dev.scalpel.bench.LoadGenerator.Ending;
import dev.scalpel.bench.LoadGenerator.Outcome;
import dev.scalpel.bench.LoadGenerator.Plan;
import dev.scalpel.support.Jdks;
import dev.scalpel.support.TestRedis;

/**
 * The benchmark: {@code ./mvnw -Pbench verify}. Runs the upstream test server and Scalpel (the built
 * jar) in their own JVMs and a non-blocking load generator in this one, through the scenarios
 * {@code steady}, {@code churn}, {@code capacity}, {@code peers} and {@code burst}, plus the JMH
 * microbenchmarks ({@code micro}); prints a table of figures against the targets we hold ourselves to
 * and writes {@code target/bench/results.json} and {@code results.md}. It judges nothing: a missed
 * target is a figure to act on, not a failed build.
 *
 * <p>{@code peers} ({@link Peers}) puts Scalpel beside the plain proxies it could be replaced with, in
 * front of one fast upstream, in the same run: the upstream read directly, nginx (where installed),
 * Spring Cloud Gateway (built by the bench from {@code src/bench/peers/gateway}) and Scalpel's native
 * API and OpenAI door. Its parts run alone as the scenarios {@code throughput}, {@code ttft} and
 * {@code ramp}, or within it with {@code peers.parts=throughput,ttft}. Its sizes:
 * {@code peers.warmup=30} and {@code peers.duration=15} (seconds of warm-up, then of measure, per
 * system), {@code peers.connections=64} and {@code peers.tokens=100} (throughput), {@code peers.ttft.streams=50},
 * {@code peers.ttft.bursts=10}, {@code peers.ttft.warmup=5} (bursts), {@code peers.ttft.first=200} (ms),
 * {@code peers.ttft.tokens=20},
 * {@code peers.ramp.streams=2000}, {@code peers.ramp.rate=500} (a second), {@code peers.ramp.first=1000}
 * and {@code peers.ramp.interval=50} (ms), {@code peers.ramp.tokens=100}, {@code peers.ramp.warmup=10}
 * (seconds at a tenth of the rate), {@code peers.ramp.pretouch=false}, {@code peers.heap=1g},
 * {@code peers.nginx.warmup=5}, {@code peers.client.loops=1} (the client's event loops),
 * {@code peers.systems=direct,nginx,gateway,scalpel,redis} (redis: Scalpel in redis mode, throughput and ttft); {@code profile=true} profiles Scalpel with
 * async-profiler while its throughput is measured ({@code target/bench/peers-profile-*.collapsed}).
 *
 * <p>Arguments ({@code -Dbench.args="..."}): scenario names (default: all) and sizes:
 * {@code steady.streams=1000}, {@code steady.duration=15} (seconds), {@code churn.streams=100000},
 * {@code steady.redis=true} (steady in redis mode as well, for the overhead of redis mode),
 * {@code steady.keys=true} (steady with API keys configured and sent as well, for their cost),
 * {@code capacity.streams=9000} (each such stream holds two sockets in Scalpel's process, and file
 * descriptors are limited per process), {@code capacity.c1=false} (capacity's Scalpel compiles with
 * C1 and C2 as the image's does, rather than with C1 alone), {@code warmup=10} (seconds: the ramp before figures are kept),
 * {@code jit.warmup=30} (seconds of paced load that warm the JVMs up before {@code steady} measures),
 * {@code rewarm=15} (seconds of paced load through Scalpel again, after the direct baseline),
 * {@code burst.rounds=20} (the last one measured, the others warm the JIT up),
 * {@code start.pinned=true} (Scalpel starts on its own core(s) rather than on all, see ScalpelProcess);
 * {@code jfr=true} records a JFR
 * profile of each Scalpel process next to its log; {@code baseline.url=http://host:port/v1} and
 * {@code baseline.model=...} compare Scalpel with another OpenAI-compatible URL (another gateway in
 * front of the bench's upstream at {@code upstream.port}) instead of the upstream itself.
 */
public final class Bench {

	/** One figure, with the target it is held to (null when it only informs). */
	record Figure(String scenario, String name, double value, String unit, String target, Boolean met) {
	}

	/** How long the full-speed part of {@code steady} measures, and warms up before it (the JIT is warm by then). */
	private static final Duration FAST = Duration.ofSeconds(5);

	private static final Duration FAST_WARMUP = Duration.ofSeconds(1);

	/** How many streams {@code churn} keeps open at once. */
	private static final int CHURN_CONCURRENCY = 1000;

	/** How many of {@code capacity}'s idle streams may be opening at once, asked for and not yet answered. */
	private static final int OPENING = 200;

	/** The queue position in a start's answer. */
	private static final Pattern QUEUE_POSITION = Pattern.compile("\"queue_position\"\\s*:\\s*(\\d+)");

	private final List<Figure> figures = new ArrayList<>();

	final Map<String, Object> details = new LinkedHashMap<>();

	/** Tables of their own for results.md (peers' column per system), after the figures. */
	private final StringBuilder sections = new StringBuilder();

	private final Path out;

	private final Path jar;

	private final AtomicInteger tags = new AtomicInteger();

	/** Whether {@code churn} runs right after {@code steady}, and so may take over its Scalpel. */
	private boolean churnFollowsSteady;

	/** {@code steady}'s Scalpel, warm, left running for the {@code churn} that follows it; null otherwise. */
	private @Nullable ScalpelProcess warmForChurn;

	private Bench(Path out, Path jar) {
		this.out = out;
		this.jar = jar;
	}

	public static void main(String[] args) throws IOException {
		// Maven passes -Dbench.args as one argument: scenario names and size=value settings.
		// A word that starts with "-" continues the setting before it, so that scalpel.jvm can take several
		// JVM options: scalpel.jvm=-XX:MaxGCPauseMillis=10 -Xlog:gc
		List<String> scenarios = new ArrayList<>();
		String setting = null;
		for (String arg : String.join(" ", args).split("\\s+")) {
			if (arg.startsWith("-") && setting != null) {
				System.setProperty(setting, System.getProperty(setting) + " " + arg);
			}
			else if (arg.contains("=")) {
				setting = "bench." + arg.substring(0, arg.indexOf('='));
				System.setProperty(setting, arg.substring(arg.indexOf('=') + 1));
			}
			else if (!arg.isBlank()) {
				scenarios.add(arg);
				setting = null;
			}
		}
		if (scenarios.isEmpty() || scenarios.contains("default")) {
			// capacity before churn: churn leaves some 100,000 loopback connections in TIME_WAIT, and the
			// 18,000 that capacity then opens could wait for free ports (seen: 180 s instead of 20 s).
			// steady right before churn: churn takes over steady's warm Scalpel (see churn).
			scenarios = List.of("capacity", "steady", "churn", "peers", "burst", "micro");
		}
		// Read after the settings, which may name them (jar=, out=) over the -D the build passes.
		Path out = Path.of(System.getProperty("bench.out", "target/bench"));
		Path jar = Path.of(System.getProperty("bench.jar", "target/scalpel-0.1.0-SNAPSHOT.jar"));
		Files.createDirectories(out);
		String measured = jar.toAbsolutePath() + " (" + Files.size(jar) + " bytes)";
		System.out.println("Scalpel: " + measured);
		Cpus.pinSelf();
		Bench bench = new Bench(out, jar);
		bench.churnFollowsSteady = scenarios.indexOf("churn") > 0
				&& scenarios.indexOf("churn") == scenarios.indexOf("steady") + 1;
		long started = System.nanoTime();
		bench.details.put("machine", machine());
		bench.details.put("jar", measured);
		bench.details.put("started_at", Instant.now().toString());
		try (Upstream upstream = Upstream.start(out.resolve("upstream.log"))) {
			for (String scenario : scenarios) {
				System.out.println("== " + scenario);
				long scenarioStarted = System.nanoTime();
				TcpCounters tcpBefore = TcpCounters.read();
				switch (scenario) {
					case "steady" -> bench.steady(upstream);
					case "churn" -> bench.churn(upstream);
					case "capacity" -> bench.capacity(upstream);
					case "burst" -> bench.burst(upstream);
					case "peers" -> bench.peers("peers", parts());
					case "throughput", "ttft", "ramp" -> bench.peers(scenario, Set.of(scenario));
					case "micro" -> {
						Cpus.unpinSelf();
						bench.micro();
					}
					default -> throw new IllegalArgumentException("Unknown scenario " + scenario);
				}
				// What each scenario costs of the 10-minute budget.
				long took = Duration.ofNanos(System.nanoTime() - scenarioStarted).toSeconds();
				bench.details.put(scenario + "_took_seconds", took);
				System.out.println("   (" + scenario + " took " + took + " s)");
				TcpCounters.read().since(tcpBefore).forEach((counter, delta) -> {
					bench.details.put(scenario + "_tcp_" + counter, delta);
					if (delta > 0) {
						System.out.println("   (" + TcpCounters.KEPT.get(counter) + ", machine-wide: " + delta + ")");
					}
				});
			}
		}
		bench.details.put("took_seconds", Duration.ofNanos(System.nanoTime() - started).toSeconds());
		bench.report();
	}

	// --- scenarios

	/**
	 * {@code steady}: {@code streams} concurrent streams at 20 tokens/s, read directly from the upstream
	 * and then through Scalpel (the same client, the same pace), to compare time to first token and the
	 * gaps between tokens; with that load live, probes started and cancelled through the API give the
	 * cancel round trip and Scalpel's slot release time. Then the same comparison at full speed gives
	 * the throughput ratio.
	 */
	private void steady(Upstream upstream) {
		int streams = Integer.getInteger("bench.steady.streams", 1000);
		Duration duration = Duration.ofSeconds(Integer.getInteger("bench.steady.duration", 15));
		Duration warmup = Duration.ofSeconds(Integer.getInteger("bench.warmup", 10));
		int fastStreams = 64;
		// 100 tokens at 20 a second: the first streams start over one lifetime, then the arrival rate is
		// the steady one (streams / lifetime); figures are kept for streams started after the warm-up.
		Duration lifetime = Duration.ofSeconds(5);
		// The JIT: on one core, C2 takes about half of Scalpel's core for its first one to two minutes
		// (async-profiler), and the client and upstream need theirs too; figures of a cold JVM measure
		// its compiler. So steady first warms all three up together (half the streams direct, half
		// through Scalpel, jit.warmup seconds), then measures the direct baseline while Scalpel idles on
		// its own core (its compiler finishes its queue there), then measures through Scalpel.
		Duration jitWarmup = Duration.ofSeconds(Integer.getInteger("bench.jit.warmup", 30));
		this.details.put("steady_jit_warmup_seconds", jitWarmup.toSeconds());
		// The baseline: the upstream read directly, or any other OpenAI-compatible URL (another gateway in
		// front of the same upstream, for instance) given as baseline.url and baseline.model.
		String baseline = System.getProperty("bench.baseline.url", upstream.baseUrl());
		String baselineModel = System.getProperty("bench.baseline.model", "bench");
		this.details.put("steady_baseline", baseline);
		Through memory;
		Direct direct;
		Phases phases = new Phases();
		// churn, when it follows, takes this Scalpel over warm rather than start and warm up its own: a
		// fresh JVM spent its first 100 s of churn with C2 taking a third of its one core. Only where
		// steady ran with churn's settings (its 1,000 streams) and starts no variant of its own after it
		// (an idle Scalpel on the core they measure on), and not for a before/after run, whose two churns
		// must start alike.
		boolean handOver = this.churnFollowsSteady && streams == CHURN_CONCURRENCY
				&& System.getProperty("bench.before.jar") == null && ScalpelProcess.Jvm.alternative() == null
				&& !Boolean.getBoolean("bench.steady.keys") && !Boolean.getBoolean("bench.steady.redis");
		ScalpelProcess scalpel = startSteady(upstream, this.jar, "steady", streams, List.of());
		try (LoadGenerator directLoad = new LoadGenerator(baseline, Api.OPENAI, baselineModel);
				LoadGenerator through = new LoadGenerator(scalpel.baseUrl(), Api.NATIVE, "bench")) {
			phases.mark("start");
			upstream.script(100, Duration.ofMillis(50), -1);
			warm(jitWarmup, streams, lifetime, scalpel, null, directLoad, through);
			scalpel.pin();
			phases.mark("jit warm-up");
			directLoad.resetFigures();
			directLoad.recordFrom(System.nanoTime() + warmup.toNanos());
			List<Outcome> outcomes = directLoad.closedLoop(streams, Long.MAX_VALUE, warmup.plus(duration), lifetime,
					n -> complete("steady"));
			Histogram directFirst = directLoad.firstToken.copy();
			Histogram directGaps = directLoad.gaps.copy();
			Histogram directHeaders = directLoad.headers.copy();
			this.details.put("steady_direct_streams", outcomes.size());
			phases.mark("direct");
			upstream.script(2000, Duration.ZERO, -1);
			double directRate = fullSpeed(directLoad, fastStreams, "fast");
			phases.mark("direct at full speed");
			direct = new Direct(directFirst, directGaps, directHeaders, directRate);
			List<Long> scrapeTimes = new ArrayList<>();
			Thread scrapes = scrapeProbe(scalpel, scrapeTimes);
			// Paced again, as measured: the script was left at full speed by the direct baseline's, and a
			// re-warm at full speed (until session 19) piled 1,000 streams' tokens onto the client's busy
			// core, whose reads then lagged by seconds.
			upstream.script(100, Duration.ofMillis(50), -1);
			rewarm(streams, lifetime, scalpel, null, through);
			phases.mark("re-warm");
			through.resetFigures();
			memory = through(upstream, scalpel, through, "steady", direct, streams, duration, warmup, lifetime, null);
			phases.mark("through Scalpel");
			// What the leak auditor (every 3 s here) reclaimed on this Scalpel so far; churn, when it takes
			// this Scalpel over, counts its own from here.
			double leaks = scalpel.prometheus().value("scalpel_leaks_reclaimed_total");
			add("steady", "scalpel.leaks.reclaimed during steady", leaks, "", null, null);
			scrapes.interrupt();
			synchronized (scrapeTimes) {
				this.details.put("steady_scrape_ms", List.copyOf(scrapeTimes));
				long slowest = scrapeTimes.contains(-1L) ? -1
						: scrapeTimes.stream().mapToLong(Long::longValue).max().orElse(0);
				add("steady", "scrape of Scalpel's meters every 5 s from the re-warm on: how many / slowest (-1: none in 10 s)",
						scrapeTimes.size(), "ms", null, null, slowest);
			}
			if (handOver) {
				this.warmForChurn = scalpel;
			}
		}
		finally {
			if (this.warmForChurn != scalpel) {
				scalpel.close();
			}
		}
		phases.mark("stop");
		this.details.put("steady_phase_seconds", phases.seconds);
		// before.jar=<an older build's jar>: the same steady run through it too, for before/after figures
		// measured against the same baseline in the same run.
		String before = System.getProperty("bench.before.jar");
		if (before != null) {
			through(upstream, Path.of(before), "steady (before)", direct, streams, duration, warmup, lifetime, List.of(),
					null);
		}
		// alt.java=<a java launcher> and/or alt.jvm=<options>: the same steady run through this build on
		// another JDK or with other JVM options (a collector, compact headers), against the same baseline.
		ScalpelProcess.Jvm alternative = ScalpelProcess.Jvm.alternative();
		if (alternative != null) {
			this.details.put("steady_alt_jvm", alternative.java() + " " + alternative.options());
			Through alt = through(alternative, upstream, this.jar, "steady (alt)", direct, streams, duration, warmup,
					lifetime, List.of(), null);
			add("steady (alt)", "alt minus this: time to first token p50 / p99", alt.firstP50() - memory.firstP50(),
					"ms", null, null, alt.firstP99() - memory.firstP99());
			add("steady (alt)", "alt minus this: inter-token delay p99", alt.gapP99() - memory.gapP99(), "ms", null,
					null);
		}
		if (Boolean.getBoolean("bench.steady.keys")) {
			// steady.keys=true: the same run with API keys configured (ten, the client's last) and sent on
			// every request, for what keys cost: Spring Security's authentication, a SHA-256 and ten
			// constant-time comparisons per request, an attach token per start.
			List<String> keys = new ArrayList<>();
			for (int i = 0; i < 10; i++) {
				keys.add("scalpel.security.keys[" + i + "].name=bench-" + i);
				keys.add("scalpel.security.keys[" + i + "].sha256=" + sha256("sk-bench-" + i));
			}
			Through keyed = through(upstream, this.jar, "steady (keys)", direct, streams, duration, warmup, lifetime,
					keys, "sk-bench-9");
			add("steady (keys)", "keys vs open: token events/s at full speed", keyed.rate() / memory.rate(), "ratio",
					null, null);
			add("steady (keys)", "keys minus open: time to first token p50 / p99", keyed.firstP50() - memory.firstP50(),
					"ms", null, null, keyed.firstP99() - memory.firstP99());
		}
		if (Boolean.getBoolean("bench.steady.redis")) {
			// steady.redis=true: the same run in redis mode too (one replica writing every event to a
			// real Redis on the rig's core), for the overhead of redis mode over memory mode. Not in the
			// default run, which must stay under 10 minutes.
			try (TestRedis redis = TestRedis.start()) {
				this.details.put("steady_redis_server", redis.source());
				Through shared = through(upstream, this.jar, "steady (redis mode)", direct, streams, duration, warmup,
						lifetime, List.of("scalpel.cluster.mode=redis", "spring.data.redis.url=" + redis.url()), null);
				add("steady (redis mode)", "redis mode vs memory mode: token events/s at full speed",
						shared.rate() / memory.rate(), "ratio", null, null);
				add("steady (redis mode)", "redis mode minus memory mode: time to first token p50 / p99",
						shared.firstP50() - memory.firstP50(), "ms", null, null, shared.firstP99() - memory.firstP99());
				add("steady (redis mode)", "redis mode minus memory mode: inter-token delay p99",
						shared.gapP99() - memory.gapP99(), "ms", null, null);
			}
		}
	}

	private static String sha256(String key) {
		try {
			return java.util.HexFormat.of()
				.formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8)));
		}
		catch (java.security.NoSuchAlgorithmException ex) {
			throw new IllegalStateException(ex);
		}
	}

	/** What the through-Scalpel half of {@code steady} measured. */
	private record Through(double firstP50, double firstP99, double gapP99, double rate) {
	}

	/** What the client saw reading the upstream (or the baseline URL) directly. */
	private record Direct(Histogram firstToken, Histogram gaps, Histogram headers, double rate) {
	}

	/**
	 * Scalpel for {@code steady}, and for a {@code churn} that does not take over steady's: slots for
	 * every stream, its log named after the scenario.
	 */
	private ScalpelProcess startSteady(Upstream upstream, Path jar, String scenario, int streams,
			List<String> properties) {
		return startSteady(ScalpelProcess.Jvm.configured(), upstream, jar, scenario, streams, properties);
	}

	private ScalpelProcess startSteady(ScalpelProcess.Jvm jvm, Upstream upstream, Path jar, String scenario,
			int streams, List<String> properties) {
		// The auditor every 3 s: churn reads its leak count an auditor pass after its streams.
		List<String> settings = new ArrayList<>(List.of("scalpel.slots.max=" + (streams + 200), "scalpel.queue.max=1000",
				"scalpel.auditor.interval=3s"));
		settings.addAll(properties);
		return ScalpelProcess.start(jvm, jar, log(scenario), "1g", true, upstream.baseUrl(), settings);
	}

	/**
	 * Warms the JIT of the given load generators' targets (and of this JVM and the upstream): their
	 * share of {@code streams} paced streams each, all at once, for {@code length}, with what the
	 * measured part adds on Scalpel's side: the cancel probe and a scrape of its meters. The measured part must run no code the JIT has
	 * not seen: a class loaded for the first time there (the probe's background start and cancel, the
	 * Prometheus scrape) made the JIT throw away and compile again much of the hot path, and it took a
	 * fifth of Scalpel's core while the figures were taken (-XX:+PrintCompilation, -Xlog:class+load).
	 */
	private void warm(Duration length, int streams, Duration lifetime, ScalpelProcess scalpel, @Nullable String key,
			LoadGenerator... loads) {
		CancelProbe prober = CancelProbe.start(scalpel.baseUrl(), key, Duration.ofMillis(50), Duration.ofMillis(100));
		List<CompletableFuture<List<Outcome>>> runs = new ArrayList<>();
		for (LoadGenerator load : loads) {
			runs.add(CompletableFuture.supplyAsync(() -> load.closedLoop(streams / loads.length,
					Long.MAX_VALUE, length, lifetime, n -> complete("warm"), true)));
		}
		ScalpelProcess.sleep(length.toMillis() / 2);
		warmScrape(scalpel);
		runs.forEach(CompletableFuture::join);
		prober.close();
		warmScrape(scalpel);
		for (LoadGenerator load : loads) {
			load.resetFigures();
		}
	}

	/**
	 * A scrape of Scalpel's meters that warms their code up, timed ({@code warm_scrape_ms}): one that
	 * times out is counted in {@code results.json} rather than ending the run, with Scalpel's threads
	 * dumped and a scrape on a new connection tried. (Scrapes waited up to more than 10 s in re-warms
	 * while the management server shared the streams' event loops; it has a loop of its own now.)
	 */
	private void warmScrape(ScalpelProcess scalpel) {
		long started = System.nanoTime();
		try {
			scalpel.prometheus();
			record("warm_scrape_ms", (System.nanoTime() - started) / 1_000_000);
		}
		catch (UncheckedIOException failed) {
			// What Scalpel's threads were doing, and whether a scrape on a new connection is answered.
			int failures = ((Number) this.details.merge("warm_scrapes_failed", 1,
					(a, b) -> ((Number) a).intValue() + 1)).intValue();
			Path dump = this.out.resolve("scrape-timeout-" + failures + "-threads.txt");
			scalpel.threadDump(dump);
			long retried = System.nanoTime();
			String retry;
			try {
				Http.getFresh(scalpel.managementUrl() + "/actuator/prometheus");
				retry = "answered in " + (System.nanoTime() - retried) / 1_000_000 + " ms";
			}
			catch (UncheckedIOException again) {
				retry = "failed too: " + again.getMessage();
			}
			record("warm_scrape_retry", retry);
			System.out.println("   (a warm-up scrape of Scalpel's meters failed: " + failed.getMessage()
					+ "; Scalpel's threads in " + dump.getFileName() + "; on a new connection it " + retry + ")");
		}
	}

	/**
	 * Scrapes Scalpel's meters every 5 s, as Prometheus would, from the re-warm to the end of the
	 * measured part: each scrape's time in ms in results.json ({@code steady_scrape_ms}, -1 for no
	 * answer within 10 s).
	 */
	private Thread scrapeProbe(ScalpelProcess scalpel, List<Long> times) {
		String url = scalpel.managementUrl() + "/actuator/prometheus";
		Thread thread = new Thread(() -> {
			while (!Thread.currentThread().isInterrupted()) {
				long started = System.nanoTime();
				long took = timed(() -> Http.get(url));
				synchronized (times) {
					times.add(took);
				}
				long left = 5000 - (System.nanoTime() - started) / 1_000_000;
				if (left > 0) {
					try {
						Thread.sleep(left);
					}
					catch (InterruptedException ex) {
						return;
					}
				}
			}
		}, "scrape-probe");
		thread.setDaemon(true);
		thread.start();
		return thread;
	}

	private static long timed(Runnable call) {
		long started = System.nanoTime();
		try {
			call.run();
		}
		catch (RuntimeException failed) {
			return -1;
		}
		return (System.nanoTime() - started) / 1_000_000;
	}

	/** How long each part of a scenario took, in seconds, for what it costs of the 10-minute budget. */
	private static final class Phases {

		private final Map<String, Double> seconds = new LinkedHashMap<>();

		private long last = System.nanoTime();

		void mark(String phase) {
			long now = System.nanoTime();
			this.seconds.put(phase, Math.round((now - this.last) / 1e8) / 10.0);
			this.last = now;
		}

	}

	/** Adds {@code value} to the list {@code key} of results.json. */
	@SuppressWarnings("unchecked")
	private void record(String key, Object value) {
		((List<Object>) this.details.computeIfAbsent(key, k -> new ArrayList<>())).add(value);
	}

	/**
	 * Paced streams through Scalpel again after it idled through the direct baseline, before its
	 * figures are taken ({@code rewarm} seconds, 15 by default). Resuming after the idle gap sent the
	 * JIT back to work: the first closes of upstream connections the pool had kept idle past
	 * {@code idle-connection-time} ran code that compiled methods had never seen, the JIT threw those
	 * methods away, and it compiled about 2,500 methods again in the next 10 s; without this it took a
	 * fifth of Scalpel's core during the measured part (-XX:+PrintCompilation).
	 */
	private void rewarm(int streams, Duration lifetime, ScalpelProcess scalpel, @Nullable String key,
			LoadGenerator through) {
		Duration length = Duration.ofSeconds(Integer.getInteger("bench.rewarm", 15));
		if (!length.isZero()) {
			warm(length, streams, lifetime, scalpel, key, through);
		}
	}

	/**
	 * The through-Scalpel half of {@code steady} for another build or other settings: its own Scalpel,
	 * warmed up like the first (jit.warmup seconds of paced streams, then as long idle as the direct
	 * baseline gave the first one), then measured.
	 */
	private Through through(Upstream upstream, Path jar, String scenario, Direct direct, int streams,
			Duration duration, Duration warmup, Duration lifetime, List<String> properties, @Nullable String key) {
		return through(ScalpelProcess.Jvm.configured(), upstream, jar, scenario, direct, streams, duration, warmup,
				lifetime, properties, key);
	}

	private Through through(ScalpelProcess.Jvm jvm, Upstream upstream, Path jar, String scenario, Direct direct,
			int streams, Duration duration, Duration warmup, Duration lifetime, List<String> properties,
			@Nullable String key) {
		Duration jitWarmup = Duration.ofSeconds(Integer.getInteger("bench.jit.warmup", 30));
		try (ScalpelProcess scalpel = startSteady(jvm, upstream, jar, scenario, streams, properties);
				LoadGenerator through = new LoadGenerator(scalpel.baseUrl(), Api.NATIVE, "bench", key)) {
			upstream.script(100, Duration.ofMillis(50), -1);
			warm(jitWarmup, streams, lifetime, scalpel, key, through);
			scalpel.pin();
			ScalpelProcess.sleep(warmup.plus(duration).plus(FAST).plusSeconds(1).toMillis());
			rewarm(streams, lifetime, scalpel, key, through);
			return through(upstream, scalpel, through, scenario, direct, streams, duration, warmup, lifetime, key);
		}
	}

	/**
	 * Token events per second that {@code streams} streams read at full speed (the upstream's script set
	 * to it), after a short warm-up; the load's figures are reset.
	 */
	private double fullSpeed(LoadGenerator load, int streams, String tag) {
		load.closedLoop(streams, Long.MAX_VALUE, FAST_WARMUP, n -> complete("warm"));
		load.resetFigures();
		long start = System.nanoTime();
		load.closedLoop(streams, Long.MAX_VALUE, FAST, n -> complete(tag));
		return load.tokens.get() / seconds(System.nanoTime() - start);
	}

	/** Measures the through-Scalpel half of {@code steady} on a warm Scalpel. */
	private Through through(Upstream upstream, ScalpelProcess scalpel, LoadGenerator through, String scenario,
			Direct direct, int streams, Duration duration, Duration warmup, Duration lifetime, @Nullable String key) {
		int fastStreams = 64;
		Histogram directFirst = direct.firstToken();
		Histogram directGaps = direct.gaps();
		Histogram directHeaders = direct.headers();
		double directRate = direct.rate();
		upstream.script(100, Duration.ofMillis(50), -1);
		long recordFrom = System.nanoTime() + warmup.toNanos();
		through.recordFrom(recordFrom);
		// Cancel probes (20 a second, each cancelled 100 ms after its start) from a thread of their own
		// with real-time priority, so that the round trip is Scalpel's and not the busy rig core's;
		// their figures are kept from the end of the warm-up.
		CancelProbe prober = CancelProbe.start(scalpel.baseUrl(), key, Duration.ofMillis(50), Duration.ofMillis(100));
		// Scalpel's CPU time over the measured part of the run: how busy its core(s) were.
		long[] cpu = new long[3];
		List<Map<String, Long>> threadsAtStart = new ArrayList<>();
		// And its meters when the measured part starts, for what its event loops recorded during it.
		Prometheus[] atStart = new Prometheus[1];
		Disposable resetProbes = Mono.delay(warmup).subscribe(ignored -> {
			prober.reset();
			cpu[0] = scalpel.cpuNanos();
			cpu[1] = System.nanoTime();
			cpu[2] = scalpel.kernelCpuNanos();
			threadsAtStart.add(scalpel.cpuNanosByThreads());
			atStart[0] = scalpel.prometheus();
		});
		List<Outcome> outcomes = through.closedLoop(streams, Long.MAX_VALUE, warmup.plus(duration), lifetime,
				n -> complete("steady"));
		// The measured part's length and Scalpel's CPU time in it, read once: every share below is of these.
		double window = System.nanoTime() - cpu[1];
		double used = scalpel.cpuNanos() - cpu[0];
		double busy = (cpu[1] != 0) ? 100.0 * used / window / Cpus.scalpelCores() : Double.NaN;
		double kernel = (cpu[1] != 0) ? 100.0 * (scalpel.kernelCpuNanos() - cpu[2]) / window / Cpus.scalpelCores()
				: Double.NaN;
		// The same by threads: event loops (the streams), the JIT compiler (still compiling?), GC, other.
		Map<String, Double> byThreads = new LinkedHashMap<>();
		if (!threadsAtStart.isEmpty()) {
			scalpel.cpuNanosByThreads()
				.forEach((group, nanos) -> byThreads.put(group, 100.0
						* (nanos - threadsAtStart.get(0).getOrDefault(group, 0L)) / (window * Cpus.scalpelCores())));
		}
		resetProbes.dispose();
		prober.close();
		this.details.put(scenario + "_cancel_probe_priority", prober.priority());
		if (prober.failure() != null) {
			this.details.put(scenario + "_cancel_probe_failure", prober.failure());
		}
		Prometheus prometheus = scalpel.prometheus();
		this.details.put(scenario + "_scalpel_streams", outcomes.size());
		this.details.put(scenario + "_scalpel_errors", errors(outcomes));
		this.details.put(scenario + "_cancel_probes", prober.cancels.getTotalCount());
		double firstP50 = ms(through.firstToken, 50) - ms(directFirst, 50);
		double firstP99 = ms(through.firstToken, 99) - ms(directFirst, 99);
		double gapP99 = ms(through.gaps, 99) - ms(directGaps, 99);
		add(scenario, "response headers, direct p50 / p99", ms(directHeaders, 50), "ms", null, null,
				ms(directHeaders, 99));
		add(scenario, "response headers, through Scalpel p50 / p99", ms(through.headers, 50), "ms", null, null,
				ms(through.headers, 99));
		add(scenario, "time to first token, direct p50 / p99", ms(directFirst, 50), "ms", null, null,
				ms(directFirst, 99));
		add(scenario, "time to first token, through Scalpel p50 / p99", ms(through.firstToken, 50), "ms", null,
				null, ms(through.firstToken, 99));
		// The added figures mean something only while the baseline keeps its pace: when the client and
		// upstream alone already miss the 50 ms pace badly (their cores saturated), "through minus
		// direct" compares two overloads, and no target is judged met or missed from it.
		boolean baselineKeepsPace = ms(directGaps, 99) <= 100;
		add(scenario, "direct baseline keeps its 50 ms pace (inter-token p99 <= 100 ms)", ms(directGaps, 99), "ms",
				null, null);
		add(scenario, "time to first token added, p50", firstP50, "ms", "<= 2 ms",
				baselineKeepsPace ? firstP50 <= 2 : null);
		add(scenario, "time to first token added, p99", firstP99, "ms", "<= 10 ms",
				baselineKeepsPace ? firstP99 <= 10 : null);
		add(scenario, "inter-token delay, direct p99 / through p99", ms(directGaps, 99), "ms", null, null,
				ms(through.gaps, 99));
		add(scenario, "inter-token delay added, p99", gapP99, "ms", "<= 5 ms", baselineKeepsPace ? gapP99 <= 5 : null);
		add(scenario, "Scalpel's CPU use while measured, of the core(s) it has / of which in the kernel", busy, "%",
				null, null, kernel);
		this.details.put(scenario + "_cpu_by_threads_percent", byThreads);
		add(scenario, "of which its event loops / the JIT compiler", byThreads.getOrDefault("loops", Double.NaN), "%",
				null, null, byThreads.getOrDefault("jit", Double.NaN));
		double cancelP99 = ms(prober.cancels, 99);
		add(scenario, "cancel HTTP round trip p99, " + streams + " streams live", cancelP99, "ms", "<= 10 ms",
				cancelP99 <= 10);
		if (atStart[0] != null) {
			// How late Scalpel's event loops ran what was due, over the measured part (histogram buckets'
			// upper bounds): what every token, cancel and new request on them waited.
			String delay = "scalpel_eventloop_delay_seconds";
			add(scenario, "Scalpel's event-loop delay (scalpel.eventloop.delay) p50 / p99, at most",
					1000 * prometheus.quantileSince(atStart[0], delay, 0.5), "ms", null, null,
					1000 * prometheus.quantileSince(atStart[0], delay, 0.99));
		}
		if (atStart[0] != null && cpu[1] != 0) {
			// Per token, over the measured part: what a change costs or saves, less noisy on a shared VM
			// than the latencies (which follow what else the core was doing). Allocation: the JVM's meter
			// counts it only at each young collection (a few in the window, each some hundreds of MB),
			// so the eden's growth since then is added at both ends.
			double tokens = prometheus.value("scalpel_tokens_total") - atStart[0].value("scalpel_tokens_total");
			String eden = "id=\"G1 Eden Space\"";
			double allocated = prometheus.value("jvm_gc_memory_allocated_bytes_total")
					- atStart[0].value("jvm_gc_memory_allocated_bytes_total")
					+ prometheus.value("jvm_memory_used_bytes", eden) - atStart[0].value("jvm_memory_used_bytes", eden);
			add(scenario, "Scalpel's CPU time per token event while measured", used / tokens / 1000, "µs", null,
					null);
			add(scenario, "heap allocated per token event while measured", allocated / tokens / 1024, "KiB", null,
					null);
			// Garbage-collection pauses stop every stream on the instance: their share of the time is
			// about the share of tokens, cancels and starts that wait for one.
			double pauses = prometheus.value("jvm_gc_pause_seconds_count") - atStart[0].value("jvm_gc_pause_seconds_count");
			double paused = prometheus.value("jvm_gc_pause_seconds_sum") - atStart[0].value("jvm_gc_pause_seconds_sum");
			add(scenario, "GC pauses while measured: how many / their share of the time", pauses, "%", null, null,
					100 * paused * 1e9 / window);
		}
		// Slot release after a cancel, over the measured part only, from the timer's histogram buckets
		// (an upper bound at the buckets' resolution, which has a bound at the 1 ms target). Scalpel's
		// own p99 gauge covers the last two minutes, which here would include the re-warm's cancels on a
		// JVM still compiling: kept as a detail.
		double gaugeP99 = 1000 * prometheus.value("scalpel_slot_release_percentile_seconds", "trigger=\"cancel\"",
				"quantile=\"0.99\"");
		this.details.put(scenario + "_slot_release_cancel_p99_gauge_last_2_minutes_ms", gaugeP99);
		if (atStart[0] != null) {
			String release = "scalpel_slot_release_seconds";
			Prometheus cancels = prometheus.only(release, "trigger=\"cancel\"");
			Prometheus cancelsAtStart = atStart[0].only(release, "trigger=\"cancel\"");
			double releaseP99 = 1000 * cancels.quantileSince(cancelsAtStart, release, 0.99);
			double released = cancels.value(release + "_count") - cancelsAtStart.value(release + "_count");
			this.details.put(scenario + "_slot_releases_after_cancel", released);
			this.details.put(scenario + "_slot_release_cancel_p50_at_most_ms",
					1000 * cancels.quantileSince(cancelsAtStart, release, 0.5));
			add(scenario, "slot free after cancel (scalpel.slot.release{trigger=cancel}) p99, at most", releaseP99,
					"ms", "<= 1 ms", releaseP99 <= 1);
		}

		double throughFirstP50 = ms(through.firstToken, 50);
		double throughFirstP99 = ms(through.firstToken, 99);
		double throughGapP99 = ms(through.gaps, 99);
		upstream.script(2000, Duration.ZERO, -1);
		double throughRate = fullSpeed(through, fastStreams, "fast");
		add(scenario, "token events/s at full speed, direct / through Scalpel", directRate, "events/s", null,
				null, throughRate);
		add(scenario, "token events/s through Scalpel vs direct", throughRate / directRate, "ratio", ">= 0.8",
				throughRate / directRate >= 0.8);
		if (scenario.equals("steady")) {
			// The same client through the OpenAI-compatible door (OpenAI's chunks instead of native events).
			try (LoadGenerator door = new LoadGenerator(scalpel.baseUrl() + "/v1", Api.OPENAI, "bench")) {
				double doorRate = fullSpeed(door, fastStreams, "door");
				add(scenario, "token events/s at full speed through the OpenAI door", doorRate, "events/s", null, null);
				add(scenario, "token events/s through the OpenAI door vs direct", doorRate / directRate, "ratio",
						null, null);
			}
		}
		return new Through(throughFirstP50, throughFirstP99, throughGapP99, throughRate);
	}

	/**
	 * {@code churn}: {@code streams} streams in all, 1,000 at a time, of 20 tokens at 20 tokens/s; half
	 * run to the end, a quarter are cancelled and a quarter disconnect at a random instant. Matches each
	 * disconnect with the upstream server's record of its connection closing, and reads the leak
	 * auditor's count afterwards.
	 */
	private void churn(Upstream upstream) {
		churn(upstream, this.jar, "churn");
		// before.jar=<an older build's jar>: churn through it too, for before/after figures in one run.
		String before = System.getProperty("bench.before.jar");
		if (before != null) {
			churn(upstream, Path.of(before), "churn (before)");
		}
	}

	private void churn(Upstream upstream, Path jar, String scenario) {
		long total = Long.getLong("bench.churn.streams", 100_000);
		int concurrency = CHURN_CONCURRENCY;
		Duration warmup = Duration.ofSeconds(Integer.getInteger("bench.warmup", 10));
		Duration lifetime = Duration.ofMillis(1200);
		Phases phases = new Phases();
		ScalpelProcess warm = this.warmForChurn;
		this.warmForChurn = null;
		this.details.put(key(scenario) + "_scalpel", (warm != null) ? "steady's, warm" : "its own, started for it");
		try (ScalpelProcess scalpel = (warm != null) ? warm
				: startSteady(upstream, jar, scenario, concurrency, List.of());
				LoadGenerator load = new LoadGenerator(scalpel.baseUrl(), Api.NATIVE, "bench")) {
			phases.mark("start");
			// On steady's Scalpel, the leaks it reclaimed during steady are steady's (reported there).
			double leaksBefore = (warm != null) ? scalpel.prometheus().value("scalpel_leaks_reclaimed_total") : 0;
			upstream.script(20, Duration.ofMillis(50), -1);
			// The warm-up leaves its last streams rather than wait for them (they took 8 s more on a cold
			// JVM), and the measured streams start once Scalpel has let them all go. On its own Scalpel it
			// runs on all cores (ScalpelProcess); on steady's, pinned already, it warms up the cancels and
			// disconnects that steady had few or none of. Warming a new JVM up until the JIT compiler was
			// quiet did not pay: C2 compiled for some 100 s whether pinned or not (about 3,800 compilations
			// of 3,400 methods, none of them compiled over and over: -XX:+PrintCompilation), as the rig's
			// load kept both cores busy. Taking steady's over did: see steady.
			load.closedLoop(concurrency, Long.MAX_VALUE, warmup, lifetime, n -> mixed("warm", n, lifetime), true);
			awaitMetric(scalpel, "scalpel_slots_in_use", 0, Duration.ofSeconds(30));
			scalpel.pin();
			phases.mark("warm-up");
			load.resetFigures();
			upstream.stats();
			long start = System.nanoTime();
			List<Outcome> outcomes = load.closedLoop(concurrency, total, Duration.ofMinutes(8), lifetime,
					n -> mixed(scenario.replaceAll("[^a-z]", ""), n, lifetime));
			double took = seconds(System.nanoTime() - start);
			phases.mark("streams");
			ScalpelProcess.sleep(1000);
			upstream.stats();
			// A disconnect is matched with the upstream request of its stream. When that request came
			// before the disconnect, the time to its connection closing is the figure; when it came
			// after (the client left before Scalpel had read its request: Scalpel's core was full),
			// the upstream connection should not have been opened at all, and how long it stayed open
			// is reported apart.
			Histogram closes = new Histogram(3);
			Histogram openedAfterLeaving = new Histogram(3);
			int unmatched = 0;
			for (Outcome outcome : outcomes) {
				if (outcome.ending() == Ending.DISCONNECT && outcome.disconnectedNanos() != 0) {
					Upstream.Close close = upstream.close(outcome.tag());
					if (close == null) {
						unmatched++;
					}
					else if (close.requestedNanos() <= outcome.disconnectedNanos()) {
						closes.recordValue(LoadGenerator.micros(close.closedNanos() - outcome.disconnectedNanos()));
					}
					else {
						openedAfterLeaving.recordValue(LoadGenerator.micros(close.closedNanos() - close.requestedNanos()));
					}
				}
			}
			// More than an auditor interval (3 s), so that the auditor has looked at the state after the churn.
			ScalpelProcess.sleep(5_000);
			Prometheus prometheus = scalpel.prometheus();
			this.details.put(key(scenario) + "_streams", outcomes.size());
			this.details.put(key(scenario) + "_errors", errors(outcomes));
			this.details.put(key(scenario) + "_error_kinds", errorKinds(outcomes));
			this.details.put(key(scenario) + "_slow_cancels", List.copyOf(load.slowCancels));
			this.details.put(key(scenario) + "_disconnects_without_upstream_close_seen", unmatched);
			this.details.put(key(scenario) + "_disconnects_matched", closes.getTotalCount());
			add(scenario, "streams run (half completed, a quarter cancelled, a quarter disconnected) / per second", outcomes.size(),
					"streams, streams/s", null, null, outcomes.size() / took);
			add(scenario, "streams that failed or did not end as planned", errors(outcomes), "", null, null);
			add(scenario, "  disconnects before the response headers came (as planned, not failures)",
					outcomes.stream().filter(Bench::leftBeforeHeaders).count(),
					"", null, null);
			double closeP99 = ms(closes, 99);
			add(scenario, "client disconnect -> upstream connection closed, p50 / p99", ms(closes, 50), "ms", null,
					null, closeP99);
			add(scenario, "client disconnect -> upstream connection closed, p99", closeP99, "ms", "<= 50 ms",
					closeP99 <= 50);
			this.details.put(key(scenario) + "_upstream_requests_after_client_left", openedAfterLeaving.getTotalCount());
			add(scenario, "upstream requests made after their client had left (count)",
					openedAfterLeaving.getTotalCount(), "", null, null);
			add(scenario, "  how long those stayed open, p50 / p99", ms(openedAfterLeaving, 50), "ms", null, null,
					ms(openedAfterLeaving, 99));
			add(scenario, "cancel HTTP round trip p50 / p99 under churn", ms(load.cancels, 50), "ms", null, null,
					ms(load.cancels, 99));
			add(scenario, "slot free after disconnect p99",
					1000 * prometheus.value("scalpel_slot_release_percentile_seconds", "trigger=\"disconnect\"",
							"quantile=\"0.99\""),
					"ms", null, null);
			double leaks = prometheus.value("scalpel_leaks_reclaimed_total") - leaksBefore;
			add(scenario, "scalpel.leaks.reclaimed after churn", leaks, "", "0", leaks == 0);
			double inUse = prometheus.value("scalpel_slots_in_use");
			add(scenario, "slots in use after churn", inUse, "", "0", inUse == 0);
			phases.mark("figures");
		}
		phases.mark("stop");
		this.details.put(key(scenario) + "_phase_seconds", phases.seconds);
	}

	/**
	 * {@code capacity}: Scalpel with a 512 MiB heap; {@code streams} streams opened and left idle (the
	 * upstream sends one token and then nothing; each stream has a listener and an upstream connection).
	 * The live heap after a full GC, less the heap before, gives the memory per idle stream and so how
	 * many fit in 512 MiB.
	 */
	private void capacity(Upstream upstream) {
		int streams = Integer.getInteger("bench.capacity.streams", 9000);
		Phases phases = new Phases();
		// capacity measures the heap an idle stream holds, not speed, and a stream's objects are the same
		// whichever compiler ran the code that made them. On C1 alone (capacity.c1=false: the image's
		// JIT, C1 then C2) the 9,000 streams opened in 36 s instead of 71: with C2, its compiler took more
		// of Scalpel's one core than the event loop did (async-profiler: 37 % against 32 %), and the live
		// heap per stream came out the same (45.5 KiB either way, within the spread between runs).
		ScalpelProcess.Jvm jvm = ScalpelProcess.Jvm.configured();
		boolean c1 = !"false".equals(System.getProperty("bench.capacity.c1")) && !jvm.options().contains("Tiered");
		if (c1) {
			jvm = new ScalpelProcess.Jvm(jvm.java(), (jvm.options() + " -XX:TieredStopAtLevel=1").strip());
		}
		this.details.put("capacity_jit", c1 ? "C1 only" : "as configured");
		try (ScalpelProcess scalpel = ScalpelProcess.start(jvm, this.jar, this.out.resolve("scalpel-capacity.log"), "512m",
				false, upstream.baseUrl(),
				List.of("scalpel.slots.max=" + (streams + 100), "scalpel.queue.max=1000",
						"scalpel.upstream.first-token-timeout=1h", "scalpel.upstream.idle-timeout=1h",
						"scalpel.upstream.max-duration=2h", "logging.level.scalpel.streams=warn"));
				LoadGenerator load = new LoadGenerator(scalpel.baseUrl(), Api.NATIVE, "bench")) {
			phases.mark("start");
			upstream.script(5, Duration.ZERO, 1);
			// Warm up with a few hundred streams, then measure the heap without them.
			Disposable warm = Flux.range(0, 300)
				.flatMap(n -> load.stream(new Plan(tag("warm"), Ending.DISCONNECT, Duration.ofHours(1))), 300)
				.subscribe();
			awaitMetric(scalpel, "scalpel_upstream_active", 300, Duration.ofSeconds(60));
			warm.dispose();
			awaitMetric(scalpel, "scalpel_slots_in_use", 0, Duration.ofSeconds(30));
			scalpel.collectGarbage();
			double before = scalpel.prometheus().value("jvm_memory_used_bytes", "area=\"heap\"");
			// capacity.histogram=true: the live objects before and with the idle streams, to see what a
			// stream holds (target/bench/capacity-histogram-*.txt).
			boolean histograms = Boolean.getBoolean("bench.capacity.histogram");
			if (histograms) {
				scalpel.histogram(this.out.resolve("capacity-histogram-before.txt"));
			}
			scalpel.pin();
			phases.mark("warm-up");
			long start = System.nanoTime();
			// Idle streams never end, so all of them are in flight at once: opened at up to 500 a second
			// (the point is memory, not how fast a storm of opens is taken), and never more than OPENING
			// at a time without their answer: at a fixed 500 a second, Scalpel fell behind as its heap
			// filled and its accept queue overflowed (some 14,000 SYNs dropped a run, each retried by the
			// kernel after 1, 3, 7 s). With the cap none is dropped; the opening took 40-70 s with
			// C2, and half that on C1 alone (above). (Left on all cores, it opened them no faster to speak
			// of: 43 s in one run, against 47 and 64 s pinned in two.)
			// An idle stream that ends failed to open or was dropped: counted, so that the wait below ends
			// once every stream is either open or ended instead of waiting out its timeout for them.
			List<Outcome> ended = Collections.synchronizedList(new ArrayList<>());
			AtomicInteger opening = new AtomicInteger();
			long answeredBefore = load.headers.getTotalCount();
			Disposable open = Flux.interval(Duration.ofMillis(2))
				.onBackpressureDrop()
				.filter(tick -> load.headers.getTotalCount() - answeredBefore + ended.size() + OPENING > opening.get())
				.take(streams)
				.doOnNext(tick -> opening.incrementAndGet())
				.flatMap(n -> load.stream(new Plan(tag("idle"), Ending.DISCONNECT, Duration.ofHours(1))), Integer.MAX_VALUE)
				.subscribe(ended::add);
			boolean all = false;
			long deadline = System.nanoTime() + Duration.ofSeconds(180).toNanos();
			while (System.nanoTime() < deadline) {
				double active = scalpel.prometheus().value("scalpel_upstream_active");
				all = active >= streams;
				if (all || active + ended.size() >= streams) {
					break;
				}
				ScalpelProcess.sleep(200);
			}
			if (!ended.isEmpty()) {
				synchronized (ended) {
					this.details.put("capacity_ended_early", ended.size());
					this.details.put("capacity_ended_early_first", ended.get(0).toString());
				}
			}
			double opened = scalpel.prometheus().value("scalpel_upstream_active");
			double openTook = seconds(System.nanoTime() - start);
			phases.mark("open");
			scalpel.collectGarbage();
			double after = scalpel.prometheus().value("jvm_memory_used_bytes", "area=\"heap\"");
			if (histograms) {
				scalpel.histogram(this.out.resolve("capacity-histogram-after.txt"));
			}
			double perStream = (after - before) / opened;
			double fit = (512.0 * 1024 * 1024 - before) / perStream;
			long released = System.nanoTime();
			open.dispose();
			awaitMetric(scalpel, "scalpel_slots_in_use", 0, Duration.ofSeconds(60));
			double releaseTook = seconds(System.nanoTime() - released);
			this.details.put("capacity_all_opened", all);
			this.details.put("capacity_open_seconds", openTook);
			this.details.put("capacity_heap_before_mib", before / 1024 / 1024);
			this.details.put("capacity_heap_after_mib", after / 1024 / 1024);
			this.details.put("capacity_release_all_seconds", releaseTook);
			add("capacity", "idle open streams held (listener + upstream connection each), 512 MiB heap", opened,
					"streams", null, null);
			add("capacity", "live heap per idle stream", perStream / 1024, "KiB", null, null);
			add("capacity", "idle open streams that fit in a 512 MiB heap", fit, "streams", ">= 10,000", fit >= 10_000);
			phases.mark("heap and release");
		}
		phases.mark("stop");
		this.details.put("capacity_phase_seconds", phases.seconds);
	}

	/**
	 * {@code burst}: twice the slot and queue capacity (64 + 256 by default) asks to start at once; the
	 * excess is refused with {@code 429}. Measures how long the refusals take.
	 */
	private void burst(Upstream upstream) {
		burst(upstream, this.jar, "burst");
		// before.jar=<an older build's jar>: burst through it too, for before/after figures in one run.
		String before = System.getProperty("bench.before.jar");
		if (before != null) {
			burst(upstream, Path.of(before), "burst (before)");
		}
	}

	private void burst(Upstream upstream, Path jar, String scenario) {
		int capacity = 64 + 256;
		String key = key(scenario);
		// A pre-touched heap: without, the first touch of each heap page (about 10 µs on this VM) showed
		// as a sixth of the event loop's time in the measured round (async-profiler: clear_page_erms under
		// TLAB allocations).
		try (ScalpelProcess scalpel = ScalpelProcess.start(jar, log(scenario), "512m",
				true, upstream.baseUrl(), List.of());
				LoadGenerator load = new LoadGenerator(scalpel.baseUrl(), Api.NATIVE, "bench")) {
			upstream.script(100, Duration.ofMillis(100), -1);
			// Rounds before the measured last one warm the JIT up: the figure is a running service's, not
			// that of a start path still interpreted.
			int rounds = Integer.getInteger("bench.burst.rounds", 20);
			List<Double> roundSeconds = new ArrayList<>();
			this.details.put(key + "_round_seconds", roundSeconds);
			long roundCpuMs = 0;
			long roundJitMs = 0;
			for (int round = 0; round < rounds; round++) {
				long roundStarted = System.nanoTime();
				boolean measured = round == rounds - 1;
				long cpuBefore = 0;
				long jitBefore = 0;
				if (measured) {
					// C2 still took half of Scalpel's core in the twelfth round, a minute after the start
					// (async-profiler): let it finish its queue on an idle core first, as it has on a
					// service that has run a while. The earlier rounds ran on all cores (ScalpelProcess).
					scalpel.pin();
					Duration waited = awaitJitQuiet(scalpel, Duration.ofSeconds(Integer.getInteger("bench.burst.quiet", 20)));
					this.details.put(key + "_waited_for_jit_seconds", waited.toMillis() / 1000.0);
					load.resetFigures();
					cpuBefore = scalpel.cpuNanos();
					jitBefore = scalpel.cpuNanosByThreads().get("jit");
				}
				List<String[]> answers = Flux.range(0, 2 * capacity)
					.flatMap(n -> load.startBackground(tag("burst")), 2 * capacity)
					.collectList()
					.block(Duration.ofMinutes(1));
				if (measured) {
					roundCpuMs = (scalpel.cpuNanos() - cpuBefore) / 1_000_000;
					roundJitMs = (scalpel.cpuNanosByThreads().get("jit") - jitBefore) / 1_000_000;
					this.details.put(key + "_measured_round_cpu_ms", roundCpuMs);
					this.details.put(key + "_measured_round_jit_cpu_ms", roundJitMs);
				}
				long accepted = answers.stream().filter(answer -> "202".equals(answer[0])).count();
				long refused = answers.stream().filter(answer -> "429".equals(answer[0])).count();
				this.details.put(key + "_accepted", accepted);
				this.details.put(key + "_refused", refused);
				// The queue from its back first, then the running streams: a queued stream that leaves from
				// the back moves nobody, and a running one cancelled with the queue empty promotes nobody.
				// In start order, each cancel of a running stream started a queued one's upstream call and
				// told every stream behind it its new position: half of each round's time went there.
				Flux.fromIterable(answers)
					.filter(answer -> answer[1] != null)
					.sort(Comparator.comparingInt((String[] answer) -> -queuePosition(answer[2])))
					.flatMap(answer -> load.cancel(answer[1]), 8)
					.blockLast(Duration.ofMinutes(1));
				awaitMetric(scalpel, "scalpel_slots_in_use", 0, Duration.ofSeconds(30));
				roundSeconds.add(Math.round(seconds(System.nanoTime() - roundStarted) * 10) / 10.0);
			}
			add(scenario, "starts accepted / refused of " + 2 * capacity,
					((Number) this.details.get(key + "_accepted")).doubleValue(), "", null, null,
					((Number) this.details.get(key + "_refused")).doubleValue());
			double p99 = ms(load.refusals, 99);
			add(scenario, "429 answer latency p50 / p99", ms(load.refusals, 50), "ms", null, null, p99);
			add(scenario, "429 answer latency p99", p99, "ms", "<= 5 ms", p99 <= 5);
			// The same answers timed from when the client had written the request: what is left is
			// Scalpel's (and the kernel's) share, without the client pushing out 640 requests at once.
			add(scenario, "  from the request written, p50 / p99", ms(load.refusalsFromWritten, 50), "ms", null, null,
					ms(load.refusalsFromWritten, 99));
			add(scenario, "Scalpel's CPU time for the measured round's 640 starts / of which its JIT", roundCpuMs, "ms",
					null, null, roundJitMs);
		}
	}

	/** A start's queue position from its {@code 202} answer's body; 0 when it got a slot at once (or no body). */
	private static int queuePosition(String body) {
		Matcher position = QUEUE_POSITION.matcher(body);
		return position.find() ? Integer.parseInt(position.group(1)) : 0;
	}

	/**
	 * Waits until Scalpel's JIT compiler threads used less than 5 % of a core over a second, at most
	 * {@code max}, and returns how long that took.
	 */
	private static Duration awaitJitQuiet(ScalpelProcess scalpel, Duration max) {
		long started = System.nanoTime();
		long deadline = started + max.toNanos();
		long before = scalpel.cpuNanosByThreads().get("jit");
		while (System.nanoTime() < deadline) {
			ScalpelProcess.sleep(1000);
			long now = scalpel.cpuNanosByThreads().get("jit");
			if (now - before < 50_000_000L) {
				break;
			}
			before = now;
		}
		return Duration.ofNanos(System.nanoTime() - started);
	}

	/**
	 * {@code peers}, or one of its parts alone ({@code throughput}, {@code ttft}, {@code ramp}): Scalpel
	 * against nginx and Spring Cloud Gateway in front of the same fast upstream (see {@link Peers}).
	 */
	private void peers(String scenario, Set<String> parts) {
		new Peers(this, this.out, this.jar, scenario, parts).run();
	}

	/** The parts {@code peers} runs: {@code peers.parts=throughput,ttft,ramp} (default all). */
	private static Set<String> parts() {
		Set<String> parts = new LinkedHashSet<>();
		for (String part : System.getProperty("bench.peers.parts", String.join(",", Peers.PARTS)).split(",")) {
			if (!Peers.PARTS.contains(part.strip())) {
				throw new IllegalArgumentException("Unknown part of peers: " + part + " (parts: " + Peers.PARTS + ")");
			}
			parts.add(part.strip());
		}
		return parts;
	}

	/** A section of its own in results.md, after the table of figures. */
	void section(String title, String markdown) {
		this.sections.append("\n## ").append(title).append("\n\n").append(markdown);
	}

	private void micro() {
		for (Microbenchmarks.Result result : Microbenchmarks.run(this.out)) {
			add("micro", result.benchmark() + (result.params().isEmpty() ? "" : " (" + result.params() + ")"),
					result.score(), result.unit(), null, null);
		}
	}

	// --- helpers

	private Plan complete(String prefix) {
		return new Plan(tag(prefix), Ending.COMPLETE, Duration.ZERO);
	}

	private Plan mixed(String prefix, long n, Duration lifetime) {
		return switch ((int) (n % 4)) {
			case 2 -> new Plan(tag(prefix), Ending.CANCEL, LoadGenerator.randomBefore(lifetime));
			case 3 -> new Plan(tag(prefix), Ending.DISCONNECT, LoadGenerator.randomBefore(lifetime));
			default -> new Plan(tag(prefix), Ending.COMPLETE, Duration.ZERO);
		};
	}

	private String tag(String prefix) {
		return prefix + "-" + this.tags.incrementAndGet();
	}

	/** Where a scenario's Scalpel logs: "churn (before)" gives scalpel-churn-before.log. */
	private Path log(String scenario) {
		return this.out.resolve("scalpel-" + scenario.replaceAll("[^a-z]+", "-").replaceAll("-$", "") + ".log");
	}

	/** A scenario's name as a key of results.json: "churn (before)" gives "churn_before". */
	private static String key(String scenario) {
		return scenario.replaceAll("[^a-z]+", "_").replaceAll("_$", "");
	}

	private static long errors(List<Outcome> outcomes) {
		return outcomes.stream().filter(Bench::error).count();
	}

	/** The client left at its random instant before the response headers came: as planned. */
	private static boolean leftBeforeHeaders(Outcome outcome) {
		return outcome.ending() == Ending.DISCONNECT && outcome.status() == 0
				&& outcome.terminal().equals("disconnected");
	}

	private static boolean error(Outcome outcome) {
		if (leftBeforeHeaders(outcome)) {
			return false;
		}
		return outcome.status() != 200 || outcome.terminal().startsWith("error") || outcome.terminal().equals("failed")
				|| (outcome.ending() == Ending.COMPLETE && !outcome.terminal().equals("completed"));
	}

	/** The errors counted by how the stream was meant to end, the status it got and how it ended. */
	private static Map<String, Long> errorKinds(List<Outcome> outcomes) {
		return outcomes.stream()
			.filter(Bench::error)
			.collect(Collectors.groupingBy(outcome -> outcome.ending() + " " + outcome.status() + " " + outcome.terminal()
					+ ((outcome.tokens() > 0) ? " after tokens" : " before any token"), TreeMap::new,
					Collectors.counting()));
	}

	private static boolean awaitMetric(ScalpelProcess scalpel, String name, double value, Duration timeout) {
		long deadline = System.nanoTime() + timeout.toNanos();
		while (System.nanoTime() < deadline) {
			double current = scalpel.prometheus().value(name);
			if ((value == 0) ? current == 0 : current >= value) {
				return true;
			}
			ScalpelProcess.sleep(200);
		}
		return false;
	}

	private static double ms(Histogram micros, double percentile) {
		return (micros.getTotalCount() == 0) ? Double.NaN : micros.getValueAtPercentile(percentile) / 1000.0;
	}

	private static double seconds(long nanos) {
		return nanos / 1e9;
	}

	void add(String scenario, String name, double value, String unit, String target, Boolean met) {
		this.figures.add(new Figure(scenario, name, value, unit, target, met));
		System.out.printf(Locale.ROOT, "  %-70s %12s %s%n", name, format(value), unit);
	}

	/** A figure of two values (e.g. p50 / p99), kept as the first with the second in its name's value. */
	void add(String scenario, String name, double first, String unit, String target, Boolean met,
			double second) {
		this.details.put(scenario + ": " + name, List.of(first, second));
		this.figures.add(new Figure(scenario, name, first, unit, target, met));
		this.figures.add(new Figure(scenario, name + " (second)", second, unit, null, null));
		System.out.printf(Locale.ROOT, "  %-70s %12s / %s %s%n", name, format(first), format(second), unit);
	}

	private static String format(double value) {
		if (Double.isNaN(value)) {
			return "n/a";
		}
		return (Math.abs(value) >= 100) ? String.format(Locale.ROOT, "%,.0f", value)
				: String.format(Locale.ROOT, "%.3f", value);
	}

	private static Map<String, Object> machine() {
		Map<String, Object> machine = new LinkedHashMap<>();
		machine.put("cores", Cpus.cores());
		machine.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version"));
		machine.put("java", System.getProperty("java.vm.name") + " " + System.getProperty("java.version"));
		ScalpelProcess.Jvm scalpel = ScalpelProcess.Jvm.configured();
		machine.put("scalpel_java", scalpel.java() + " (" + Jdks.version(scalpel.java()) + ")");
		machine.put("cpus", Cpus.describe());
		try {
			machine.put("cpu", Files.readAllLines(Path.of("/proc/cpuinfo"))
				.stream()
				.filter(line -> line.startsWith("model name"))
				.map(line -> line.substring(line.indexOf(':') + 1).strip())
				.findFirst()
				.orElse("unknown"));
		}
		catch (IOException ex) {
			machine.put("cpu", "unknown");
		}
		return machine;
	}

	private void report() {
		StringBuilder table = new StringBuilder();
		table.append("| scenario | figure | measured | target | met |\n|---|---|---|---|---|\n");
		for (int i = 0; i < this.figures.size(); i++) {
			Figure figure = this.figures.get(i);
			if (figure.name().endsWith(" (second)")) {
				continue;
			}
			String value = format(figure.value());
			if (i + 1 < this.figures.size() && this.figures.get(i + 1).name().equals(figure.name() + " (second)")) {
				value += " / " + format(this.figures.get(i + 1).value());
			}
			table.append("| ")
				.append(figure.scenario())
				.append(" | ")
				.append(figure.name())
				.append(" | ")
				.append(value)
				.append(figure.unit().isEmpty() ? "" : " " + figure.unit())
				.append(" | ")
				.append((figure.target() != null) ? figure.target() : "")
				.append(" | ")
				.append((figure.met() == null) ? ((figure.target() != null) ? "n/a (baseline saturated)" : "") : figure.met() ? "yes" : "**no**")
				.append(" |\n");
		}
		String markdown = "# Scalpel benchmark\n\nMachine: " + this.details.get("machine") + "\n\nCommand: `./mvnw -Pbench verify`"
				+ " (took " + this.details.get("took_seconds") + " s)\n\n" + table + this.sections;
		System.out.println();
		System.out.println(table);
		Map<String, Object> json = new LinkedHashMap<>(this.details);
		json.put("figures", this.figures);
		try {
			Files.writeString(this.out.resolve("results.md"), markdown);
			Files.writeString(this.out.resolve("results.json"),
					JsonMapper.builder().build().writerWithDefaultPrettyPrinter().writeValueAsString(json));
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
		System.out.println("Results: " + this.out.resolve("results.md") + ", " + this.out.resolve("results.json"));
	}

}
