#!/bin/sh
# Installs every Debian package glia needs to build, test and benchmark.
# Run as root or with sudo available. Safe to run again. prometheus gives
# tests/e2e/test_monitoring.py its server and promtool. The last two lines
# are the contenders of `make bench` (bench/run.sh, docs/performance.md).
set -eu
PKGS="build-essential pkg-config git curl ca-certificates
libuv1-dev libhttp-parser-dev libyaml-dev libjansson-dev libsqlite3-dev libcurl4-openssl-dev
python3 python3-dev python3-numpy python3-sklearn python3-pytest
libcmocka-dev wrk procps clang libclang-rt-14-dev prometheus
python3-fastapi python3-uvicorn python3-uvloop python3-httptools
python3-flask gunicorn nginx python3-torch"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	exit 0
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
