package dev.scalpel.bench;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

import org.HdrHistogram.Histogram;
import org.jspecify.annotations.Nullable;
import reactor.core.publisher.Mono;

import dev.scalpel.bench.LeanLoad.Result;
import dev.scalpel.bench.LoadGenerator.Api;
import dev.scalpel.support.TestRedis;

/**
 * {@code peers}: what a managed stream costs against a plain proxy, measured in one run with one
 * client ({@link LeanLoad}) in front of one fast upstream ({@link PeerUpstream}): the upstream read
 * directly (the rig's ceiling), nginx ({@code proxy_buffering off}), Spring Cloud Gateway (a plain
 * proxy on Scalpel's own stack) and Scalpel through its native API and its OpenAI door, each proxy on
 * Scalpel's core(s) and run as Scalpel is; with {@code before.jar}, a second build of Scalpel too.
 * Three parts, each also a scenario of its own:
 * <ul>
 * <li>{@code throughput}: 100-token replies at full speed over 64 connections, a closed loop: token
 * events per second, each system's CPU time per reply, reply time p50 / p99;
 * <li>{@code ttft}: bursts of 50 new streams at once, the upstream's first token after 200 ms: the
 * time to first token each system adds to the direct one, p50 / p99;
 * <li>{@code ramp}: 2,000 slow streams started at 500 a second on a fresh process of each system (of
 * Scalpel, one per door; the first token after 1 s, then one every 50 ms): whether all complete, the
 * resident memory they add to the idle process, the time to first token.
 * </ul>
 * The direct figures are the rig's ceiling, not quite a floor: a proxy between client and upstream
 * takes the loopback's delivery of its own writes onto its core, off the one the client and the
 * upstream share, so a fast proxy can come out a little ahead of direct on time to first token.
 * Every JVM is warmed up with the same load ({@code peers.warmup} seconds) before it is measured
 * ({@code peers.duration} seconds). A table with a column per system ends the scenario; the figures
 * with the targets go to results.json and results.md.
 */
final class Peers {

	/** The parts, in the order they run. */
	static final List<String> PARTS = List.of("throughput", "ttft", "ramp");

	/** The time each measured window starts after its loop, for its connections to open and the loop to settle. */
	private static final Duration LEAD_IN = Duration.ofSeconds(2);

	private static final String MODEL = "bench";

	private final Bench bench;

	private final Path out;

	private final Path jar;

	private final String scenario;

	private final Set<String> parts;

	private final Duration warmup = Duration.ofSeconds(Integer.getInteger("bench.peers.warmup", 30));

	private final Duration duration = Duration.ofSeconds(Integer.getInteger("bench.peers.duration", 15));

	private final String heap = System.getProperty("bench.peers.heap", "1g");

	private final int connections = Integer.getInteger("bench.peers.connections", 64);

	private final int tokens = Integer.getInteger("bench.peers.tokens", 100);

	private final Duration nginxWarmup = Duration.ofSeconds(Integer.getInteger("bench.peers.nginx.warmup", 5));

	private final int ttftStreams = Integer.getInteger("bench.peers.ttft.streams", 50);

	private final int ttftBursts = Integer.getInteger("bench.peers.ttft.bursts", 10);

	private final int ttftWarmupBursts = Integer.getInteger("bench.peers.ttft.warmup", 5);

	private final Duration ttftFirst = Duration.ofMillis(Integer.getInteger("bench.peers.ttft.first", 200));

	private final int ttftTokens = Integer.getInteger("bench.peers.ttft.tokens", 20);

	private final int rampStreams = Integer.getInteger("bench.peers.ramp.streams", 2000);

	private final int rampRate = Integer.getInteger("bench.peers.ramp.rate", 500);

	private final Duration rampFirst = Duration.ofMillis(Integer.getInteger("bench.peers.ramp.first", 1000));

	private final int rampTokens = Integer.getInteger("bench.peers.ramp.tokens", 100);

	private final Duration rampInterval = Duration.ofMillis(Integer.getInteger("bench.peers.ramp.interval", 50));

	private final Duration rampWarmup = Duration.ofSeconds(Integer.getInteger("bench.peers.ramp.warmup", 10));

	private final boolean rampPreTouch = Boolean.getBoolean("bench.peers.ramp.pretouch");

	private final boolean profile = Boolean.getBoolean("bench.profile");

	/** Column, then row, to value: the scenario's table. */
	private final Map<String, Map<String, Double>> cells = new LinkedHashMap<>();

	private final Set<String> rows = new LinkedHashSet<>();

	private @Nullable Profiler profiler;

	private PeerUpstream upstream;

	/** A way in to a started system: a column of the table. */
	private record Door(String column, String url, Api api) {
	}

	/**
	 * A started system: its doors, its processes (none for the upstream read directly), its JVM's
	 * process for the JIT's share and the profiler (-1 when it is none), how to pin it to Scalpel's
	 * core(s) once warm (JVMs start on all, as Scalpel does) and how to stop it.
	 */
	private record Started(List<Door> doors, List<Long> pids, long jvm, Runnable pinning, Runnable stop)
			implements AutoCloseable {

		void pin() {
			this.pinning.run();
		}

		@Override
		public void close() {
			this.stop.run();
		}

	}

	/** A system that can be started, again for each ramp (which wants a fresh process). */
	private interface Starter {

		Started start(String purpose, boolean preTouch);

	}

	/** A system: its name, its doors' columns, how it starts, and whether the ramp measures it. */
	private record Peer(String name, List<String> columns, Starter starter, boolean ramps) {

		Peer(String name, List<String> columns, Starter starter) {
			this(name, columns, starter, true);
		}

	}

	Peers(Bench bench, Path out, Path jar, String scenario, Set<String> parts) {
		this.bench = bench;
		this.out = out;
		this.jar = jar;
		this.scenario = scenario;
		this.parts = parts;
	}

	void run() {
		try (PeerUpstream upstream = PeerUpstream.start(this.out.resolve("peer-upstream.log"))) {
			this.upstream = upstream;
			check();
			for (Peer system : systems()) {
				System.out.println("   -- " + system.name());
				if (this.parts.contains("throughput") || this.parts.contains("ttft")) {
					try (Started started = system.starter().start("", true)) {
						if (this.parts.contains("throughput")) {
							throughput(started, system);
						}
						if (this.parts.contains("ttft")) {
							ttft(started, system, this.parts.contains("throughput"));
						}
					}
				}
				if (this.parts.contains("ramp") && system.ramps()) {
					for (int door = 0; door < system.columns().size(); door++) {
						ramp(system, door);
					}
				}
			}
		}
		report();
	}

	/**
	 * The systems this run measures: {@code peers.systems} (default all: direct, nginx, gateway,
	 * scalpel, redis), nginx only where it is installed, and the before.jar build when given. Redis
	 * mode (one replica on a real Redis, the server on the rig's core) is measured by the throughput
	 * and ttft parts, against memory mode; the ramp measures memory mode.
	 */
	private List<Peer> systems() {
		Set<String> wanted = new LinkedHashSet<>(
				Arrays.asList(System.getProperty("bench.peers.systems", "direct,nginx,gateway,scalpel,redis").split(",")));
		List<Peer> systems = new ArrayList<>();
		if (wanted.contains("direct")) {
			systems.add(new Peer("direct", List.of("direct"), (purpose, preTouch) -> direct()));
		}
		if (wanted.contains("nginx")) {
			Path nginx = Nginx.binary();
			if (nginx == null) {
				System.out.println("   (nginx: skipped, neither /usr/sbin/nginx nor an nginx on the PATH)");
				this.bench.details.put(this.scenario + "_nginx", "skipped: not installed");
			}
			else {
				systems.add(new Peer("nginx", List.of("nginx"), (purpose, preTouch) -> nginx(nginx)));
			}
		}
		ScalpelProcess.Jvm jvm = ScalpelProcess.Jvm.configured();
		if (wanted.contains("gateway")) {
			Path gateway = Gateway.jar(this.out.resolve("peer-gateway-build.log"));
			systems.add(new Peer("Spring Cloud Gateway", List.of("SCG"),
					(purpose, preTouch) -> gateway(jvm, gateway, purpose, preTouch)));
		}
		if (wanted.contains("scalpel")) {
			ScalpelProcess.Jvm scalpelJvm = this.profile
					? new ScalpelProcess.Jvm(jvm.java(), (jvm.options() + " -XX:+EnableDynamicAgentLoading").strip()) : jvm;
			if (this.profile) {
				this.profiler = Profiler.of(jvm.java(), this.out);
			}
			systems.add(new Peer("Scalpel", List.of("Scalpel native", "Scalpel OpenAI"),
					(purpose, preTouch) -> scalpel(scalpelJvm, this.jar, "scalpel", "Scalpel", purpose, preTouch)));
			if (wanted.contains("redis")) {
				systems.add(new Peer("Scalpel, redis mode", List.of("redis native", "redis OpenAI"),
						(purpose, preTouch) -> scalpelOnRedis(scalpelJvm, this.jar, "redis", purpose, preTouch), false));
			}
			String before = System.getProperty("bench.before.jar");
			if (before != null) {
				systems.add(new Peer("Scalpel (before.jar)", List.of("before native", "before OpenAI"),
						(purpose, preTouch) -> scalpel(jvm, Path.of(before), "before", "before", purpose, preTouch)));
				if (wanted.contains("redis")) {
					systems.add(new Peer("Scalpel (before.jar), redis mode", List.of("before-redis native", "before-redis OpenAI"),
							(purpose, preTouch) -> scalpelOnRedis(jvm, Path.of(before), "before-redis", purpose, preTouch), false));
				}
			}
		}
		return systems;
	}

	// --- the systems

	private Started direct() {
		return new Started(List.of(new Door("direct", this.upstream.baseUrl(), Api.OPENAI)), List.of(), -1, () -> {
		}, () -> {
		});
	}

	private Started nginx(Path binary) {
		Nginx nginx = Nginx.start(binary, this.out.resolve("nginx"), this.upstream.port());
		return new Started(List.of(new Door("nginx", nginx.origin() + "/v1", Api.OPENAI)), nginx.pids(), -1, () -> {
		}, nginx::close);
	}

	private Started gateway(ScalpelProcess.Jvm jvm, Path jar, String purpose, boolean preTouch) {
		Gateway gateway = Gateway.start(jvm, jar, log("gateway", purpose), this.heap, preTouch, this.upstream.origin());
		return new Started(List.of(new Door("SCG", gateway.origin() + "/v1", Api.OPENAI)), List.of(gateway.pid()),
				gateway.pid(), gateway::pin, gateway::close);
	}

	private Started scalpel(ScalpelProcess.Jvm jvm, Path jar, String name, String column, String purpose,
			boolean preTouch) {
		return scalpel(jvm, jar, name, column, purpose, preTouch, List.of(), () -> {
		});
	}

	private Started scalpel(ScalpelProcess.Jvm jvm, Path jar, String name, String column, String purpose,
			boolean preTouch, List<String> more, Runnable after) {
		// Slots and queue for every stream of every part: none waits for a slot.
		List<String> settings = new ArrayList<>(List.of(
				"scalpel.slots.max=" + (Math.max(this.rampStreams, this.connections) + 200), "scalpel.queue.max=1000"));
		settings.addAll(more);
		ScalpelProcess scalpel = ScalpelProcess.start(jvm, jar, log(name, purpose), this.heap, preTouch,
				this.upstream.baseUrl(), settings);
		List<Door> doors = List.of(new Door(column + " native", scalpel.baseUrl(), Api.NATIVE),
				new Door(column + " OpenAI", scalpel.baseUrl() + "/v1", Api.OPENAI));
		return new Started(doors, List.of(scalpel.pid()), scalpel.pid(), scalpel::pin, () -> {
			scalpel.close();
			after.run();
		});
	}

	/** Scalpel in redis mode, one replica, on a Redis server of its own (its CPU is not Scalpel's). */
	private Started scalpelOnRedis(ScalpelProcess.Jvm jvm, Path jar, String column, String purpose, boolean preTouch) {
		TestRedis redis = TestRedis.start();
		this.bench.details.put(this.scenario + "_redis_server", redis.source());
		return scalpel(jvm, jar, "scalpel-" + column, column, purpose, preTouch,
				List.of("scalpel.cluster.mode=redis", "spring.data.redis.url=" + redis.url()), redis::close);
	}

	private Path log(String name, String purpose) {
		return this.out.resolve("peers-" + name + (purpose.isEmpty() ? "" : "-" + purpose) + ".log");
	}

	/**
	 * Checks that the peer upstream's replies read as they should, directly: every token and the end,
	 * natively and paced (a reply that Scalpel's provider could not read would show as failed streams).
	 */
	private void check() {
		this.upstream.shape(this.tokens, Duration.ZERO, Duration.ZERO);
		try (LeanLoad load = new LeanLoad(this.upstream.baseUrl(), Api.OPENAI, MODEL)) {
			Result result = load.stream().block(Duration.ofSeconds(30));
			if (result == null || !result.completed() || result.tokens() != this.tokens) {
				throw new IllegalStateException("The peer upstream's reply did not read as " + this.tokens
						+ " tokens and [DONE]: " + result);
			}
		}
	}

	// --- the parts

	/**
	 * {@code throughput}: the same closed loop through each door, after a warm-up of the doors
	 * together; the JVMs pinned to their core for the last seconds of it.
	 */
	private void throughput(Started started, Peer system) {
		this.upstream.shape(this.tokens, Duration.ZERO, Duration.ZERO);
		List<Door> doors = started.doors();
		List<LeanLoad> loads = new ArrayList<>();
		try {
			for (Door door : doors) {
				LeanLoad load = new LeanLoad(door.url(), door.api(), MODEL);
				loads.add(load);
				verify(door, load);
			}
			Duration warm = system.name().equals("nginx") ? this.nginxWarmup : this.warmup;
			List<Mono<Long>> loops = new ArrayList<>();
			for (LeanLoad load : loads) {
				Mono<Long> loop = load.loop(Math.max(1, this.connections / doors.size()));
				loop.subscribe();
				loops.add(loop);
			}
			Duration pinLead = min(Duration.ofSeconds(5), warm.dividedBy(2));
			ScalpelProcess.sleep(warm.minus(pinLead).toMillis());
			started.pin();
			ScalpelProcess.sleep(pinLead.toMillis());
			loads.forEach(LeanLoad::stopLoop);
			loops.forEach(loop -> loop.block(Duration.ofMinutes(1)));
			for (int i = 0; i < doors.size(); i++) {
				measure(started, doors.get(i), loads.get(i));
			}
		}
		finally {
			loads.forEach(LeanLoad::close);
		}
	}

	/**
	 * One reply through the door before any load: every token of the upstream's reply and its end
	 * reach the client (the peer upstream's replies are read by Scalpel's OpenAI provider, and passed
	 * on by the proxies, as they should be); printed and kept in results.json when not.
	 */
	private void verify(Door door, LeanLoad load) {
		Result result = load.stream().block(Duration.ofSeconds(60));
		if (result == null || !result.completed() || result.tokens() != this.tokens) {
			String seen = (result == null) ? "no answer" : result.tokens() + " tokens, " + result.failure();
			System.out.println("   (" + door.column() + ": a reply did not arrive whole: " + seen + ")");
			this.bench.details.put(this.scenario + "_incomplete_reply_" + door.column(), seen);
		}
	}

	private void measure(Started started, Door door, LeanLoad load) {
		Mono<Long> loop = load.loop(this.connections);
		loop.subscribe();
		ScalpelProcess.sleep(LEAD_IN.toMillis());
		load.responseTimesSinceLast();
		long tokensBefore = load.tokens.sum();
		long endedBefore = load.ended.sum();
		long failedBefore = load.failed.sum();
		long cpuBefore = ProcStats.cpuNanos(started.pids());
		Map<String, Long> threadsBefore = (started.jvm() > 0) ? ScalpelProcess.cpuNanosByThreads(started.jvm()) : null;
		long start = System.nanoTime();
		Path collapsed = this.out.resolve("peers-profile-" + door.column().toLowerCase(Locale.ROOT).replace(' ', '-')
				+ ".collapsed");
		boolean profiled = this.profiler != null
				&& (door.column().startsWith("Scalpel") || door.column().startsWith("redis "));
		if (profiled) {
			this.profiler.start(started.jvm(), collapsed);
		}
		ScalpelProcess.sleep(this.duration.toMillis());
		long window = System.nanoTime() - start;
		long cpu = ProcStats.cpuNanos(started.pids()) - cpuBefore;
		long tokens = load.tokens.sum() - tokensBefore;
		long failed = load.failed.sum() - failedBefore;
		long completed = load.ended.sum() - endedBefore - failed;
		Histogram times = load.responseTimesSinceLast();
		Map<String, Long> threadsAfter = (threadsBefore != null) ? ScalpelProcess.cpuNanosByThreads(started.jvm()) : null;
		if (profiled) {
			this.profiler.stop(started.jvm(), collapsed);
			System.out.println("   (profile of " + door.column() + " while measured: " + collapsed.getFileName() + ")");
		}
		load.stopLoop();
		loop.block(Duration.ofMinutes(1));
		String column = door.column();
		cell(column, "throughput: token events/s", tokens / seconds(window));
		cell(column, "throughput: replies/s", completed / seconds(window));
		cell(column, "throughput: reply time p50 (ms)", ms(times, 50));
		cell(column, "throughput: reply time p99 (ms)", ms(times, 99));
		cell(column, "throughput: failed streams", failed);
		if (!started.pids().isEmpty()) {
			cell(column, "throughput: CPU per " + this.tokens + "-token reply (ms)", cpu / 1e6 / completed);
			cell(column, "throughput: CPU busy (% of its core(s))", 100.0 * cpu / window / Cpus.scalpelCores());
		}
		if (threadsBefore != null) {
			long jit = threadsAfter.get("jit") - threadsBefore.get("jit");
			cell(column, "throughput: of which its JIT compiler (%)", 100.0 * jit / Math.max(1, cpu));
		}
		System.out.printf(Locale.ROOT, "   (%s: %,.0f token events/s, %,.0f replies/s, %d failed)%n", column,
				tokens / seconds(window), completed / seconds(window), failed);
	}

	/**
	 * {@code ttft}: bursts of new streams through each door, the first ones to warm up (on a process
	 * the throughput part warmed already, a few; else {@code peers.warmup} seconds of them).
	 */
	private void ttft(Started started, Peer system, boolean warmed) {
		this.upstream.shape(this.ttftTokens, this.ttftFirst, Duration.ZERO);
		List<Door> doors = started.doors();
		List<LeanLoad> loads = new ArrayList<>();
		try {
			for (Door door : doors) {
				loads.add(new LeanLoad(door.url(), door.api(), MODEL));
			}
			if (warmed) {
				for (LeanLoad load : loads) {
					for (int i = 0; i < this.ttftWarmupBursts; i++) {
						load.burst(this.ttftStreams);
					}
				}
			}
			else {
				Duration warm = system.name().equals("nginx") ? this.nginxWarmup : this.warmup;
				long pinAt = System.nanoTime() + warm.minus(min(Duration.ofSeconds(5), warm.dividedBy(2))).toNanos();
				long end = System.nanoTime() + warm.toNanos();
				for (int i = 0; System.nanoTime() < end; i++) {
					loads.get(i % loads.size()).burst(this.ttftStreams);
					if (System.nanoTime() >= pinAt) {
						started.pin();
					}
				}
				started.pin();
			}
			for (int i = 0; i < doors.size(); i++) {
				Histogram first = new Histogram(3);
				int failed = 0;
				for (int burst = 0; burst < this.ttftBursts; burst++) {
					ScalpelProcess.sleep(300);
					for (Result result : loads.get(i).burst(this.ttftStreams)) {
						if (result.completed() && result.firstTokenNanos() != 0) {
							first.recordValue(LoadGenerator.micros(result.firstTokenNanos() - result.startedNanos()));
						}
						else {
							failed++;
						}
					}
				}
				String column = doors.get(i).column();
				cell(column, "ttft: time to first token p50 (ms)", ms(first, 50));
				cell(column, "ttft: time to first token p99 (ms)", ms(first, 99));
				cell(column, "ttft: failed streams", failed);
			}
		}
		finally {
			loads.forEach(LeanLoad::close);
		}
	}

	/**
	 * {@code ramp} through one door of a fresh process of the system: a tenth of the rate for
	 * {@code peers.ramp.warmup} seconds first (the first requests' class loading and compiling, not
	 * the memory of 2,000 streams), the process pinned, its resident memory once idle, then the ramp,
	 * the memory sampled every 100 ms for its peak.
	 */
	private void ramp(Peer system, int index) {
		String column = system.columns().get(index);
		String purpose = "ramp" + (system.columns().size() > 1 ? "-" + column.substring(column.indexOf(' ') + 1).toLowerCase(Locale.ROOT) : "");
		try (Started started = system.starter().start(purpose, this.rampPreTouch)) {
			Door door = started.doors().get(index);
			this.upstream.shape(this.rampTokens, this.rampFirst, this.rampInterval);
			Duration spacing = Duration.ofNanos(1_000_000_000L / this.rampRate);
			Duration lifetime = this.rampFirst.plus(this.rampInterval.multipliedBy(this.rampTokens));
			Duration timeout = lifetime.plus(spacing.multipliedBy(this.rampStreams)).plusMinutes(2);
			try (LeanLoad load = new LeanLoad(door.url(), door.api(), MODEL)) {
				int warmStreams = (int) Math.max(1, this.rampRate / 10 * this.rampWarmup.toSeconds());
				load.ramp(warmStreams, spacing.multipliedBy(10)).blockLast(timeout);
				started.pin();
				ScalpelProcess.sleep(2000);
				List<Long> pids = started.pids();
				long idle = pids.isEmpty() ? 0 : ProcStats.rssBytes(pids);
				AtomicLong peak = new AtomicLong(idle);
				Thread sampler = new Thread(() -> {
					while (!Thread.currentThread().isInterrupted()) {
						peak.accumulateAndGet(ProcStats.rssBytes(pids), Math::max);
						try {
							Thread.sleep(100);
						}
						catch (InterruptedException ex) {
							return;
						}
					}
				}, "peers-rss");
				sampler.setDaemon(true);
				if (!pids.isEmpty()) {
					sampler.start();
				}
				List<Result> results = load.ramp(this.rampStreams, spacing).collectList().block(timeout);
				sampler.interrupt();
				Histogram first = new Histogram(3);
				long complete = 0;
				for (Result result : results) {
					if (result.completed() && result.tokens() == this.rampTokens) {
						complete++;
					}
					if (result.firstTokenNanos() != 0) {
						first.recordValue(LoadGenerator.micros(result.firstTokenNanos() - result.startedNanos()));
					}
				}
				results.stream()
					.filter(result -> !result.completed())
					.findFirst()
					.ifPresent(result -> this.bench.details.put(this.scenario + "_ramp_first_failure_" + column, result.failure()));
				cell(column, "ramp: streams complete with every token (of " + this.rampStreams + ")", complete);
				cell(column, "ramp: time to first token p50 (ms)", ms(first, 50));
				cell(column, "ramp: time to first token p99 (ms)", ms(first, 99));
				if (!pids.isEmpty()) {
					cell(column, "ramp: resident memory idle (MiB)", idle / 1048576.0);
					cell(column, "ramp: resident memory peak (MiB)", peak.get() / 1048576.0);
					cell(column, "ramp: resident memory growth (MiB)", (peak.get() - idle) / 1048576.0);
				}
				System.out.printf(Locale.ROOT, "   (%s ramp: %d of %d complete, first token p50 %.1f ms)%n", column, complete,
						this.rampStreams, ms(first, 50));
			}
		}
	}

	// --- the figures

	private void cell(String column, String row, double value) {
		this.rows.add(row);
		this.cells.computeIfAbsent(column, c -> new LinkedHashMap<>()).put(row, value);
	}

	private double value(String column, String row) {
		Map<String, Double> values = this.cells.get(column);
		Double value = (values != null) ? values.get(row) : null;
		return (value != null) ? value : Double.NaN;
	}

	/** The table, the figures added over direct, and the figures held to the targets. */
	private void report() {
		List<String> columns = new ArrayList<>(this.cells.keySet());
		// Added over the upstream read directly, measured the same way in the same run.
		for (String column : columns) {
			if (column.equals("direct")) {
				continue;
			}
			for (String row : List.of("ttft: time to first token p50 (ms)", "ttft: time to first token p99 (ms)")) {
				if (!Double.isNaN(value(column, row))) {
					cell(column, row.replace("time to first token", "added over direct"),
							value(column, row) - value("direct", row));
				}
			}
		}
		// Each part's rows together, in the order the parts ran (the added figures came last).
		List<String> rows = new ArrayList<>(this.rows);
		rows.sort(Comparator.comparingInt(row -> PARTS.indexOf(row.substring(0, row.indexOf(':')))));
		StringBuilder text = new StringBuilder();
		text.append(String.format(Locale.ROOT, "  %-58s", "figure"));
		columns.forEach(column -> text.append(String.format(Locale.ROOT, " %15s", column)));
		text.append('\n');
		StringBuilder markdown = new StringBuilder("| figure | " + String.join(" | ", columns) + " |\n|---|");
		columns.forEach(column -> markdown.append("---|"));
		markdown.append('\n');
		for (String row : rows) {
			text.append(String.format(Locale.ROOT, "  %-58s", row));
			markdown.append("| ").append(row).append(" |");
			for (String column : columns) {
				String value = format(value(column, row));
				text.append(String.format(Locale.ROOT, " %15s", value));
				markdown.append(' ').append(value).append(" |");
			}
			text.append('\n');
			markdown.append('\n');
		}
		System.out.println();
		System.out.print(text);
		System.out.println();
		this.bench.details.put(this.scenario, this.cells);
		this.bench.section("peers (" + String.join(", ", this.parts) + "): each system in front of the same upstream",
				markdown.toString());
		for (String column : columns) {
			if (column.endsWith("native") || column.endsWith("OpenAI")) {
				targets(column);
			}
		}
	}

	/** The targets for one of Scalpel's doors, against the peers measured in this run. */
	private void targets(String column) {
		boolean door = column.endsWith("OpenAI");
		String events = "throughput: token events/s";
		if (this.parts.contains("throughput")) {
			double scg = value(column, events) / value("SCG", events);
			double nginx = value(column, events) / value("nginx", events);
			add(column + ": token events/s vs SCG", scg, "ratio", door ? ">= 1.0" : null, scg >= 1.0);
			// A proxy whose core was not full was held back by the rig (the client and the upstream on
			// theirs): its rate is then a floor of what it can do, and the ratio flatters Scalpel.
			double nginxBusy = value("nginx", "throughput: CPU busy (% of its core(s))");
			String nginxNote = !this.cells.containsKey("nginx") ? " (nginx skipped)"
					: (nginxBusy < 90) ? String.format(Locale.ROOT, " (nginx's core %.0f %% busy: the rig's limit)", nginxBusy) : "";
			add(column + ": token events/s vs nginx" + nginxNote, nginx, "ratio", door ? ">= 0.5" : null, nginx >= 0.5);
			double cpu = value(column, "throughput: CPU per " + this.tokens + "-token reply (ms)");
			add(column + ": CPU per " + this.tokens + "-token reply", cpu, "ms", this.tokens == 100 ? "<= 0.25 ms" : null,
					cpu <= 0.25);
			add(column + ": CPU per reply vs SCG / vs nginx", cpu
					/ value("SCG", "throughput: CPU per " + this.tokens + "-token reply (ms)"), "ratio", null, null,
					cpu / value("nginx", "throughput: CPU per " + this.tokens + "-token reply (ms)"));
		}
		if (this.parts.contains("throughput") && column.contains("redis")) {
			String memory = column.startsWith("redis") ? column.replace("redis", "Scalpel") : column.replace("-redis", "");
			double ratio = value(column, events) / value(memory, events);
			add(column + ": token events/s, redis mode vs memory mode", ratio, "ratio", door ? ">= 0.7" : null,
					ratio >= 0.7);
		}
		if (this.parts.contains("ttft")) {
			String added = "ttft: added over direct p99 (ms)";
			double p99 = value(column, added);
			double scg = value("SCG", added);
			add(column + ": time to first token added p99", p99, "ms", "<= 5 ms", p99 <= 5);
			add(column + ": time to first token added p99, against SCG's " + format(scg) + " ms", p99, "ms",
					Double.isNaN(scg) ? null : "<= SCG's", p99 <= scg);
		}
		if (this.parts.contains("ramp")) {
			String growth = "ramp: resident memory growth (MiB)";
			double mib = value(column, growth);
			double scg = value("SCG", growth);
			add(column + ": ramp resident memory growth, against SCG's " + format(scg) + " MiB", mib, "MiB",
					Double.isNaN(scg) ? null : "<= SCG's", mib <= scg);
			String p50 = "ramp: time to first token p50 (ms)";
			double first = value(column, p50);
			double direct = value("direct", p50);
			add(column + ": ramp time to first token p50, against direct's " + format(direct) + " ms", first, "ms",
					Double.isNaN(direct) ? null : "<= direct + 50 ms", first <= direct + 50);
		}
	}

	/** A figure; judged only where it has a target and a value. */
	private void add(String name, double value, String unit, @Nullable String target, boolean met) {
		boolean judged = target != null && !Double.isNaN(value);
		this.bench.add(this.scenario, name, value, unit, judged ? target : null, judged ? met : null);
	}

	private void add(String name, double value, String unit, @Nullable String target, @Nullable Boolean met,
			double second) {
		this.bench.add(this.scenario, name, value, unit, target, met, second);
	}

	private static String format(double value) {
		if (Double.isNaN(value)) {
			return "n/a";
		}
		return (Math.abs(value) >= 100 || value == Math.rint(value)) ? String.format(Locale.ROOT, "%,.0f", value)
				: String.format(Locale.ROOT, "%.3f", value);
	}

	private static double ms(Histogram micros, double percentile) {
		return (micros.getTotalCount() == 0) ? Double.NaN : micros.getValueAtPercentile(percentile) / 1000.0;
	}

	private static double seconds(long nanos) {
		return nanos / 1e9;
	}

	private static Duration min(Duration a, Duration b) {
		return (a.compareTo(b) <= 0) ? a : b;
	}

}
