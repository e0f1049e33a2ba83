#!/usr/bin/env bash
# What one request costs a warm Scalpel on one core: docs/benchmarks.md, "Findings".
#
#   src/bench/request-cost.sh <scalpel jar> <status|refusal|start> [warm-up seconds] [rounds]
#
# Starts the jar on the image's JVM options with the last core to itself (taskset), drives it with
# wrk (Debian's package `wrk`) on the other cores over 32 kept-alive connections, warms it up with the
# same requests, then prints for each 20 s round the requests answered a second and Scalpel's CPU time
# (all its threads, from /proc) per request. Needs Linux, wrk, curl and python3; Java from $JAVA, else
# the first JDK 25 under /usr/lib/jvm (the image's Java), else `java`.
#   status   GET /v1/streams/{id} of one waiting stream
#   refusal  POST /v1/streams answered 429 (one slot, held by a stream that never ends; no queue)
#   start    POST /v1/streams with the event stream: the simulated model, one token at once
# SCALPEL_ARGS adds arguments to Scalpel's command line, e.g.
#   SCALPEL_ARGS=--logging.level.scalpel.streams=WARN src/bench/request-cost.sh <jar> start
set -euo pipefail

jar=${1:?usage: $0 <scalpel jar> <status|refusal|start> [warm-up seconds] [rounds]}
kind=${2:?usage: $0 <scalpel jar> <status|refusal|start> [warm-up seconds] [rounds]}
warmup=${3:-100}
rounds=${4:-3}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
java=${JAVA:-$(ls -d /usr/lib/jvm/*25*/bin/java 2>/dev/null | head -n 1)}
java=${java:-java}
cores=$(nproc)
scalpel_core=$((cores - 1))
rig_cores=0-$((cores > 1 ? cores - 2 : 0))
base=http://127.0.0.1:18080
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$work"' EXIT

args=(--server.port=18080 --management.server.port=18081 --logging.level.root=WARN)
case $kind in
	status) args+=(--scalpel.streams.attach-timeout=1h) ;;
	refusal) args+=(--scalpel.slots.max=1 --scalpel.queue.max=0 --scalpel.providers.simulated.reply-tokens=100000
		--scalpel.providers.simulated.tokens-per-second=1) ;;
	start) args+=(--scalpel.providers.simulated.reply-tokens=1 --scalpel.providers.simulated.tokens-per-second=1000
		--scalpel.providers.simulated.first-token-delay=0ms --scalpel.streams.retention=10s) ;;
	*) echo "unknown kind: $kind (status, refusal or start)" >&2; exit 2 ;;
esac
taskset -c "$scalpel_core" "$java" -Xms1g -Xmx1g -XX:+UseG1GC -XX:+UseCompactObjectHeaders -XX:ActiveProcessorCount=1 \
	-jar "$jar" "${args[@]}" ${SCALPEL_ARGS:-} > "$work/scalpel.log" 2>&1 &
pid=$!
for _ in $(seq 120); do curl -sf http://127.0.0.1:18081/actuator/health >/dev/null && break; sleep 1; done
curl -sf http://127.0.0.1:18081/actuator/health >/dev/null || { cat "$work/scalpel.log" >&2; exit 1; }

body='{"model":"simulated","messages":[{"role":"user","content":"hello there"}],"max_tokens":16}'
url=$base/v1/streams
case $kind in
	status)
		id=$(curl -sf -X POST "$url" -H 'Content-Type: application/json' -d "$body" \
			| python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
		url=$base/v1/streams/$id
		printf 'wrk.method = "GET"\n' > "$work/script.lua" ;;
	*)
		if [ "$kind" = refusal ]; then
			# The stream that holds the one slot, read (and so kept) until this script ends.
			curl -sN -X POST "$url" -H 'Content-Type: application/json' -H 'Accept: text/event-stream' \
				-d '{"prompt":"hold"}' > /dev/null 2>&1 &
			sleep 1
		fi
		cat > "$work/script.lua" <<-EOF
		wrk.method = "POST"
		wrk.body = '$body'
		wrk.headers["Content-Type"] = "application/json"
		wrk.headers["Accept"] = "text/event-stream"
		EOF
		;;
esac

cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
ticks=$(getconf CLK_TCK)
taskset -c "$rig_cores" wrk -t1 -c32 -d"${warmup}s" -s "$work/script.lua" "$url" > /dev/null
for round in $(seq "$rounds"); do
	before=$(cpu)
	out=$(taskset -c "$rig_cores" wrk -t1 -c32 -d20s -s "$work/script.lua" "$url")
	after=$(cpu)
	rate=$(awk '/Requests\/sec/ {print $2}' <<< "$out")
	statuses=$(awk '/Non-2xx/ {print $5}' <<< "$out")
	awk -v kind="$kind" -v round="$round" -v rate="$rate" -v cpu="$(( after - before ))" -v hz="$ticks" \
		-v other="${statuses:-0}" 'BEGIN { s = cpu / hz; printf "%s round %d: %.0f requests/s, %.0f µs of CPU per request, %.0f %% of a core%s\n",
			kind, round, rate, s * 1e6 / (rate * 20), s / 20 * 100, (other > 0) ? ", answered other than 2xx: " other : "" }'
done
