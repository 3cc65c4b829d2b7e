#!/usr/bin/env bash
# echo_wrk.sh: a quick look at glia alone on this machine (`make bench`,
# bench/run.sh, compares it with other servers).
#
#  1. the time from `glia deploy` (without --wait) of examples/iris-classifier
#     to its first successful prediction, polling every 50 ms;
#  2. requests/s with wrk (-t2 -c8 -d10s, bench/post.lua) against
#     examples/echo as the example configures it, a predictor returning its
#     JSON payload, and the daemon's own count of those requests.
#
# It starts its own daemon in a temporary GLIA_HOME on a free port and tears
# it down afterwards (bench/lib.sh). GLIA_BIN selects the binary (default
# build/glia); WRK_DURATION, WRK_THREADS and WRK_CONNECTIONS override wrk's
# settings.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init echo_wrk.sh
trap 'echo "echo_wrk.sh: failed at line $LINENO; daemon log:" >&2; tail -n 20 "$GLIA_HOME.out" >&2' ERR

duration=${WRK_DURATION:-10s}
threads=${WRK_THREADS:-2}
conns=${WRK_CONNECTIONS:-8}
repo=$BENCH_REPO

now_ns() { date +%s%N; }

glia_up
echo "== $("$GLIA" version | head -n1), $(nproc) CPUs, daemon on $GLIA_URL"

# 1. deploy to first prediction, iris-classifier
start=$(now_ns)
"$GLIA" deploy "$repo/examples/iris-classifier/glia.yaml" >/dev/null
while :; do
	body=$(curl -s -H 'Content-Type: application/json' \
		-d @"$repo/examples/iris-classifier/sample.json" \
		-w ' %{http_code}' "$GLIA_URL/iris-classifier" || true)
	[ "$body" = "setosa 200" ] && break
	if [ $(($(now_ns) - start)) -gt 120000000000 ]; then
		echo "iris-classifier: no successful prediction after 120 s" >&2
		exit 1
	fi
	sleep 0.05
done
end=$(now_ns)
printf 'iris-classifier: deploy to first prediction: %s s\n' \
	"$(awk -v ns=$((end - start)) 'BEGIN { printf "%.2f", ns / 1e9 }')"
"$GLIA" delete iris-classifier >/dev/null

# 2. wrk against echo
"$GLIA" deploy --wait "$repo/examples/echo/glia.yaml" >/dev/null
curl -sS -f -H 'Content-Type: application/json' -d '{"warm": 1}' "$GLIA_URL/echo" >/dev/null
wrk -t"$threads" -c"$conns" -d"$duration" -s "$BENCH_DIR/post.lua" "$GLIA_URL/echo" | tee "$BENCH_TMP/wrk.out"
rps=$(awk '/^Requests\/sec:/ {print $2}' "$BENCH_TMP/wrk.out")
non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$BENCH_TMP/wrk.out")
echo "echo: ${rps} requests/s (wrk -t$threads -c$conns -d$duration), non-2xx: ${non2xx:-0}"
# what the daemon counted, as a cross-check of wrk's figure
"$GLIA" get echo -o json | "$PY" -c '
import json, sys
a = json.load(sys.stdin)
r = a["requests"]
print("echo: daemon counted %d requests (%d 2xx, %d 4xx, %d 5xx), avg latency %.2f ms"
      % (r["total"], r["2xx"], r["4xx"], r["5xx"], a["avg_latency_ms"]))'
