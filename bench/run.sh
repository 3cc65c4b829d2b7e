#!/usr/bin/env bash
# bench/run.sh: `make bench`. Prints the machine and the versions measured,
# then runs each section script and prints its table:
#
#   overhead     bench/overhead.sh     echo predictor: glia, FastAPI, Flask, nginx
#   gateway      bench/gateway.sh      glia + C echo / command predictor vs nginx
#   model        bench/model.sh        iris and a PyTorch MLP: glia vs FastAPI
#   memory       bench/memory.sh       RSS idle and under load
#   deploy       bench/deploy_time.sh  glia deploy to first prediction
#   oip          bench/oip.sh          OIP V2: 1M FP32 tensor, JSON vs binary
#   batching     bench/batching.sh     PyTorch MLP, 16 conns: server-side batching or not
#   remote       bench/remote.sh       echo: glia up vs glia gateway -> glia worker --api
#   containers   bench/containers.sh   glia build, image size, podman run to first
#                                      prediction (not run by default: builds an image)
#
# `bench/run.sh model memory` runs only those. Every section runs even when
# one fails; the exit status is 1 when any did. Environment: GLIA_BIN,
# BENCH_DURATION (default 10s), BENCH_WARMUP, BENCH_DEPLOY_RUNS (see lib.sh
# and the scripts).
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(overhead gateway model memory bodies deploy oip batching remote)

pyver() { "$PY" -c "import $1; print($1.__version__)" 2>/dev/null || echo "not installed"; }
nginx_version() { local b; b=$(nginx_bin) && "$b" -v 2>&1 | sed 's|.*/||' || echo "not installed"; }
wrk_version() { wrk -v 2>&1 | awk 'NR == 1 {print $2}'; }
commit=$(git -C "$BENCH_REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$BENCH_REPO" status --porcelain -- src include 2>/dev/null)" ] || commit="$commit (src modified)"

echo "== machine"
echo "  cpu:      $(nproc) x $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
echo "  memory:   $(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
echo "  kernel:   $(uname -sr)"
echo "  glia:     $("$GLIA" version 2>/dev/null | head -n 1), commit $commit"
echo "  python:   $("$PY" -c 'import platform; print(platform.python_version())')"
echo "  fastapi $(pyver fastapi), uvicorn $(pyver uvicorn) ($(uvicorn_opts | sed 's/--//g; s/^ //')), flask $(pyver flask), gunicorn $(pyver gunicorn)"
echo "  torch $(pyver torch), sklearn $(pyver sklearn), nginx $(nginx_version), wrk $(wrk_version)"
echo "  duration: $BENCH_DURATION per measurement, warm-up $BENCH_WARMUP"
echo "  load:     $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min averages) before the run"
echo

failed=()
for s in "${sections[@]}"; do
	case $s in
	overhead | gateway | model | memory | oip | batching | remote | containers) script=$BENCH_DIR/$s.sh ;;
	deploy) script=$BENCH_DIR/deploy_time.sh ;;
	bodies) script=$BENCH_DIR/bodies.py ;;
	*) echo "run.sh: unknown section $s (overhead, gateway, model, memory, bodies, deploy, oip, batching, remote, containers)" >&2; exit 2 ;;
	esac
	if ! "$script"; then
		echo "  FAILED: $s (bench/${script##*/})"
		failed+=("$s")
	fi
	echo
done
echo "== load: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min averages) after the run"
if [ ${#failed[@]} -gt 0 ]; then
	echo "run.sh: failed sections: ${failed[*]}" >&2
	exit 1
fi
