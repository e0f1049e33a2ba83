package dev.scalpel.bench;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.jspecify.annotations.Nullable;

/**
 * nginx as a plain streaming reverse proxy, for the {@code peers} scenario: one worker on Scalpel's
 * core(s), {@code proxy_pass} to the upstream with {@code proxy_buffering off} (each chunk passed on
 * as it comes), HTTP/1.1 and kept-alive connections to the upstream, no access log. Its prefix, config
 * and error log are under {@code target/bench/nginx}.
 */
final class Nginx implements AutoCloseable {

	private final Process process;

	private final int port;

	private Nginx(Process process, int port) {
		this.process = process;
		this.port = port;
	}

	/** {@code /usr/sbin/nginx}, else an {@code nginx} on the PATH; null when there is none. */
	static @Nullable Path binary() {
		Path debian = Path.of("/usr/sbin/nginx");
		if (Files.isExecutable(debian)) {
			return debian;
		}
		for (String directory : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
			Path candidate = Path.of(directory, "nginx");
			if (!directory.isEmpty() && Files.isExecutable(candidate)) {
				return candidate;
			}
		}
		return null;
	}

	static Nginx start(Path binary, Path prefix, int upstreamPort) {
		int port = ScalpelProcess.freePort();
		try {
			Path root = prefix.toAbsolutePath();
			Files.createDirectories(root.resolve("temp"));
			Path conf = root.resolve("nginx.conf");
			Files.writeString(conf, config(root, port, upstreamPort));
			// -e: the error log before the config is read (Debian's default is under /var/log).
			List<String> command = new ArrayList<>(List.of(binary.toString(), "-p", root + "/", "-c", conf.toString(), "-e",
					root.resolve("error.log").toString(), "-g", "daemon off;"));
			Process process = new ProcessBuilder(Cpus.on(Cpus.scalpel(), command)).redirectErrorStream(true)
				.redirectOutput(root.resolve("nginx.out").toFile())
				.start();
			Nginx nginx = new Nginx(process, port);
			long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
			while (System.nanoTime() < deadline) {
				if (!process.isAlive()) {
					throw new IllegalStateException("nginx exited with " + process.exitValue() + "; see " + root.resolve("error.log"));
				}
				try {
					// Any answer will do: the upstream's 404, through nginx.
					Http.get(nginx.origin() + "/ready");
					if (nginx.pids().size() > 1) {
						return nginx;
					}
				}
				catch (UncheckedIOException notYet) {
					// still starting
				}
				ScalpelProcess.sleep(100);
			}
			nginx.close();
			throw new IllegalStateException("nginx was not ready within 30 s; see " + root.resolve("error.log"));
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

	/**
	 * Its configuration: a streaming proxy as one would tune it, so that it is the floor of a proxy's
	 * cost: connections to and from it kept alive (for a million requests each, rather than nginx's
	 * default of 1,000), the temporary paths in the prefix (Debian's are under {@code /var/lib/nginx}).
	 */
	private static String config(Path root, int port, int upstreamPort) {
		String temp = root.resolve("temp").toString();
		return """
				worker_processes 1;
				worker_rlimit_nofile 65536;
				pid %1$s/nginx.pid;
				error_log %1$s/error.log warn;
				events {
					worker_connections 16384;
				}
				http {
					access_log off;
					client_body_temp_path %2$s/body;
					proxy_temp_path %2$s/proxy;
					fastcgi_temp_path %2$s/fastcgi;
					uwsgi_temp_path %2$s/uwsgi;
					scgi_temp_path %2$s/scgi;
					keepalive_requests 1000000;
					upstream peer {
						server 127.0.0.1:%4$d;
						keepalive 1024;
						keepalive_requests 1000000;
					}
					server {
						listen 127.0.0.1:%3$d backlog=4096;
						location / {
							proxy_pass http://peer;
							proxy_http_version 1.1;
							proxy_set_header Connection "";
							proxy_buffering off;
							proxy_read_timeout 1h;
						}
					}
				}
				""".formatted(root, temp, port, upstreamPort);
	}

	String origin() {
		return "http://127.0.0.1:" + this.port;
	}

	/** Its master process and its worker(s). */
	List<Long> pids() {
		List<Long> pids = new ArrayList<>(List.of(this.process.pid()));
		this.process.toHandle().children().forEach(child -> pids.add(child.pid()));
		return pids;
	}

	@Override
	public void close() {
		ScalpelProcess.stop(this.process, Duration.ofSeconds(10));
	}

}
