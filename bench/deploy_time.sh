#!/usr/bin/env bash
# bench/deploy_time.sh: section 5 of `make bench`, deploy to first
# prediction.
#
# Runs `glia deploy examples/iris-classifier/glia.yaml` (without --wait) and
# POSTs the example's sample.json to the endpoint every 20 ms until one
# answers 200; the time from starting the deploy command to that answer is
# one run. Deletes the API and waits for its replica to be gone between runs.
# BENCH_DEPLOY_RUNS runs (default 5); prints each and the median.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init deploy_time.sh

runs=${BENCH_DEPLOY_RUNS:-5}
iris=$BENCH_REPO/examples/iris-classifier
py_has sklearn || die "python3-sklearn is not installed (scripts/install-deps.sh)"

now_ns() { date +%s%N; }

# workers_left: the number of glia worker processes of this home.
workers_left() {
	local n=0 p
	for p in $(leftover_pids); do
		tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -q ' worker ' && n=$((n + 1))
	done
	echo $n
}

glia_up
table=$BENCH_TMP/table
: >"$table"
times=()
for i in $(seq "$runs"); do
	start=$(now_ns)
	"$GLIA" deploy "$iris/glia.yaml" >"$BENCH_TMP/deploy.out" 2>&1 ||
		{ cat "$BENCH_TMP/deploy.out" >&2; die "glia deploy failed"; }
	deadline=$((start + 120 * 1000000000))
	while :; do
		code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
			--data-binary @"$iris/sample.json" "$GLIA_URL/iris-classifier" || true)
		[ "$code" = 200 ] && break
		[ "$(now_ns)" -lt "$deadline" ] || die "iris-classifier: no successful prediction 120 s after deploy"
		sleep 0.02
	done
	end=$(now_ns)
	ms=$(((end - start) / 1000000))
	times+=("$ms")
	printf '%d\t%s\n' "$i" "$(awk -v m="$ms" 'BEGIN { printf "%.3f", m / 1000 }')" >>"$table"
	"$GLIA" delete iris-classifier >/dev/null
	for _ in $(seq 300); do
		! "$GLIA" get iris-classifier >/dev/null 2>&1 && [ "$(workers_left)" = 0 ] && break
		sleep 0.1
	done
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ v[NR] = $1 } END {
	m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "%.3f", m / 1000 }')

echo "== 5. deploy to first prediction: iris-classifier ($runs runs, polling every 20 ms)"
print_table "$table" "run" "seconds"
echo "  median: $median s"
