#!/usr/bin/env bash
# echo_wrk.sh: measures glia on this machine.
#
#  1. requests/s with wrk (-t2 -c8 -d10s, bench/post.lua) against
#     examples/echo, a predictor returning its JSON payload;
#  2. the time from `glia deploy` (without --wait) of examples/iris-classifier
#     to its first successful prediction, polling every 50 ms.
#
# It starts its own daemon in a temporary GLIA_HOME on a free port and tears
# it down afterwards. GLIA_BIN selects the binary (default build/glia);
# WRK_DURATION, WRK_THREADS and WRK_CONNECTIONS override wrk's settings.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
glia=${GLIA_BIN:-$repo/build/glia}
duration=${WRK_DURATION:-10s}
threads=${WRK_THREADS:-2}
conns=${WRK_CONNECTIONS:-8}

[ -x "$glia" ] || { echo "echo_wrk.sh: $glia not found (make, or set GLIA_BIN)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "echo_wrk.sh: wrk not installed" >&2; exit 1; }
command -v curl >/dev/null || { echo "echo_wrk.sh: curl not installed" >&2; exit 1; }

home=$(mktemp -d /tmp/glia-bench-XXXXXX)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export GLIA_HOME=$home
url=http://127.0.0.1:$port
daemon_pid=

cleanup() {
	if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
		timeout 30 "$glia" down >/dev/null 2>&1 || true
		for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$daemon_pid" 2>/dev/null || true
	fi
	# workers left behind name this home on their command line
	for d in /proc/[0-9]*; do
		if tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -qF -- "$home"; then
			kill -9 "${d#/proc/}" 2>/dev/null || true
		fi
	done
	rm -rf "$home"
}
trap cleanup EXIT
trap 'echo "echo_wrk.sh: failed at line $LINENO; daemon log:" >&2; tail -n 20 "$home/daemon.out" >&2' ERR

now() { date +%s.%N; }

"$glia" up --listen "127.0.0.1:$port" --home "$home" >"$home/daemon.out" 2>&1 &
daemon_pid=$!
for _ in $(seq 300); do
	curl -sf "$url/healthz" >/dev/null 2>&1 && [ -S "$home/glia.sock" ] && break
	kill -0 "$daemon_pid" 2>/dev/null || { cat "$home/daemon.out" >&2; exit 1; }
	sleep 0.1
done

echo "== $("$glia" version | head -n1), $(nproc) CPUs, daemon on $url"

# 1. deploy to first prediction, iris-classifier
start=$(now)
"$glia" deploy "$repo/examples/iris-classifier/glia.yaml" >/dev/null
while :; do
	body=$(curl -s -H 'Content-Type: application/json' \
		-d @"$repo/examples/iris-classifier/sample.json" \
		-w ' %{http_code}' "$url/iris-classifier" || true)
	[ "$body" = "setosa 200" ] && break
	elapsed=$(echo "$(now) - $start" | bc)
	if [ "$(echo "$elapsed > 120" | bc)" = 1 ]; then
		echo "iris-classifier: no successful prediction after 120 s" >&2
		exit 1
	fi
	sleep 0.05
done
end=$(now)
printf 'iris-classifier: deploy to first prediction: %.2f s\n' "$(echo "$end - $start" | bc)"
"$glia" delete iris-classifier >/dev/null

# 2. wrk against echo
"$glia" deploy --wait "$repo/examples/echo/glia.yaml" >/dev/null
curl -sS -f -H 'Content-Type: application/json' -d '{"warm": 1}' "$url/echo" >/dev/null
wrk -t"$threads" -c"$conns" -d"$duration" -s "$repo/bench/post.lua" "$url/echo" | tee "$home/wrk.out"
rps=$(awk '/^Requests\/sec:/ {print $2}' "$home/wrk.out")
non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$home/wrk.out")
echo "echo: ${rps} requests/s (wrk -t$threads -c$conns -d$duration), non-2xx: ${non2xx:-0}"
# what the daemon counted, as a cross-check of wrk's figure
"$glia" get echo -o json | /usr/bin/python3 -c '
import json, sys
a = json.load(sys.stdin)
r = a["requests"]
print("echo: daemon counted %d requests (%d 2xx, %d 4xx, %d 5xx), avg latency %.2f ms"
      % (r["total"], r["2xx"], r["4xx"], r["5xx"], a["avg_latency_ms"]))'
