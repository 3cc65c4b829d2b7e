#!/usr/bin/env bash
# bench/containers.sh: glia in containers (docs/containers.md). Not part of
# `make bench`'s default sections (it builds an image: minutes); run it as
# `bench/run.sh containers` or directly.
#
# 1. `glia build` of examples/iris-classifier (with its apt dependency
#    python3-sklearn): build time, image size, and the base image's size.
# 2. Start to first prediction: a gateway container on a podman network
#    (published on 127.0.0.1), then BENCH_CONTAINER_RUNS times (default 5):
#    `podman run -d` of a replica container with the API's network alias,
#    POST sample.json to the gateway every 20 ms until one answers 200; the
#    time from `podman run` to that answer is one run; the replica is
#    removed before the next. The peer in the same run: the same replica as
#    a plain process (`glia worker --api`, no container) behind a plain
#    `glia gateway`, timed the same way.
# Needs podman, the base image (scripts/base-image.sh) and curl.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_init containers.sh

runs=${BENCH_CONTAINER_RUNS:-5}
iris=$BENCH_REPO/examples/iris-classifier
base=docker.io/library/debian:bookworm-slim
have podman || die "podman is not installed (scripts/install-deps.sh)"
podman image exists "$base" || die "no $base: run scripts/base-image.sh"
tag=glia-bench-$$
image=localhost/$tag:latest
net=$tag
cleanup_podman() {
	podman ps -a --format '{{.Names}}' | grep "^$tag-" | xargs -r podman rm -f -t 0 >/dev/null 2>&1 || true
	podman network rm -f "$net" >/dev/null 2>&1 || true
	podman rmi -f "$image" >/dev/null 2>&1 || true
	bench_cleanup
}
trap cleanup_podman EXIT

now_ns() { date +%s%N; }
ms_since() { echo $((($(now_ns) - $1) / 1000000)); }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

# first_200 URL START_NS: waits for a 200 from URL (120 s at most) and
# prints the milliseconds since START_NS.
first_200() {
	local url=$1 start=$2 code
	local deadline=$((start + 120 * 1000000000))
	while :; do
		code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
			--data-binary @"$iris/sample.json" "$url" 2>/dev/null || true)
		[ "$code" = 200 ] && break
		[ "$(now_ns)" -lt "$deadline" ] || die "no 200 from $url within 120 s"
		sleep 0.02
	done
	ms_since "$start"
}

echo "== containers: glia build of examples/iris-classifier, then podman run to first prediction"
start=$(now_ns)
"$GLIA" build -t "$image" "$iris" >"$BENCH_TMP/build.log" 2>&1 ||
	{ tail -30 "$BENCH_TMP/build.log" >&2; die "glia build failed"; }
build_s=$(awk -v ms="$(ms_since "$start")" 'BEGIN { printf "%.1f", ms / 1000 }')
size=$(podman image inspect --format '{{.Size}}' "$image")
base_size=$(podman image inspect --format '{{.Size}}' "$base")
printf '  %-44s %8s\n' "glia build (apt cache warm or not: see note)" "${build_s} s"
printf '  %-44s %8s MB\n' "image size" "$(awk -v b="$size" 'BEGIN { printf "%.0f", b / 1e6 }')"
printf '  %-44s %8s MB\n' "  of which the base image" "$(awk -v b="$base_size" 'BEGIN { printf "%.0f", b / 1e6 }')"

podman network create "$net" >/dev/null 2>&1
gw_port=$(free_port)
podman run -d --name "$tag-gw" --network "$net" -p "127.0.0.1:$gw_port:8888" "$image" \
	gateway /app/glia.yaml --listen 0.0.0.0:8888 >/dev/null
container_ms=()
for i in $(seq "$runs"); do
	start=$(now_ns)
	podman run -d --name "$tag-r$i" --network "$net" --network-alias iris-classifier-replicas \
		"$image" worker --api iris-classifier --listen 0.0.0.0:8080 /app/glia.yaml >/dev/null
	container_ms+=("$(first_200 "http://127.0.0.1:$gw_port/iris-classifier" "$start")")
	podman rm -f -t 0 "$tag-r$i" >/dev/null
done

# the peer: the same replica and gateway as plain processes
w_port=$(free_port)
g_port=$(free_port)
"$GLIA" gateway "$iris/glia.yaml" --listen "127.0.0.1:$g_port" --no-access-log \
	--discover "static:iris-classifier=127.0.0.1:$w_port" >"$BENCH_TMP/gw.log" 2>&1 &
track $!
process_ms=()
for i in $(seq "$runs"); do
	start=$(now_ns)
	"$GLIA" worker --api iris-classifier --listen "127.0.0.1:$w_port" --home "$BENCH_TMP/home$i" \
		"$iris/glia.yaml" >"$BENCH_TMP/w$i.log" 2>&1 &
	wpid=$!
	process_ms+=("$(first_200 "http://127.0.0.1:$g_port/iris-classifier" "$start")")
	kill -TERM "$wpid"
	wait "$wpid" || true
done

printf '  %-44s %8s ms  (runs: %s)\n' "podman run -> first prediction (median)" \
	"$(printf '%s\n' "${container_ms[@]}" | median)" "${container_ms[*]}"
printf '  %-44s %8s ms  (runs: %s)\n' "process start -> first prediction (median)" \
	"$(printf '%s\n' "${process_ms[@]}" | median)" "${process_ms[*]}"
note "both include the predictor's __init__ (scikit-learn import and training: the bulk);"
note "the difference is the container's own start (runc, network, DNS alias)."
