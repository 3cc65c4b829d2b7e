#!/bin/sh
# Installs every Debian package glia needs to build, test and benchmark.
# Run as root or with sudo available. Safe to run again. prometheus gives
# tests/e2e/test_monitoring.py its server and promtool. The contenders of
# `make bench` (bench/run.sh, docs/performance.md) follow. The last line is
# for containers (docs/containers.md): `glia build` and its tests use podman
# with runc, scripts/base-image.sh uses mmdebstrap, `make deb` uses
# dpkg-dev; podman's configuration is written below where none is set.
set -eu
PKGS="build-essential pkg-config git curl ca-certificates
libuv1-dev libhttp-parser-dev libyaml-dev libjansson-dev libsqlite3-dev libcurl4-openssl-dev
python3 python3-dev python3-numpy python3-sklearn python3-pytest
libcmocka-dev wrk procps clang libclang-rt-14-dev prometheus
python3-fastapi python3-uvicorn python3-uvloop python3-httptools
python3-flask gunicorn nginx python3-torch
podman runc conmon containernetworking-plugins uidmap slirp4netns fuse-overlayfs mmdebstrap dpkg-dev"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# podman must run its containers with runc and set no rlimits in them on the
# machines glia is tested on (crun refuses their cgroup v1 hybrid mode, and
# setting rlimits inside containers is refused there). Written only when no
# containers.conf sets the runtime or the default ulimits, and never over an
# existing file.
CONTAINERS_CONF=/etc/containers/containers.conf
containers_conf() {
	set_runtime=0
	set_ulimits=0
	for f in /usr/share/containers/containers.conf "$CONTAINERS_CONF" \
		/etc/containers/containers.conf.d/*.conf; do
		[ -r "$f" ] || continue
		grep -Eq '^[[:space:]]*runtime[[:space:]]*=' "$f" && set_runtime=1
		grep -Eq '^[[:space:]]*default_ulimits[[:space:]]*=' "$f" && set_ulimits=1
	done
	if [ "$set_runtime" = 1 ] && [ "$set_ulimits" = 1 ]; then
		echo "install-deps: podman's runtime and default_ulimits are configured already"
		return 0
	fi
	if [ -e "$CONTAINERS_CONF" ]; then
		echo "install-deps: $CONTAINERS_CONF exists and is left alone; if podman" \
			"fails with 'error setting rlimits' or a crun cgroup error, add:" \
			'[containers] default_ulimits = [] and [engine] runtime = "runc"' >&2
		return 0
	fi
	echo "install-deps: writing $CONTAINERS_CONF (runtime runc, no default ulimits)"
	$SUDO mkdir -p /etc/containers
	printf '%s\n' \
		'# Written by glia scripts/install-deps.sh: podman runs containers with' \
		'# runc and sets no rlimits in them (docs/containers.md).' \
		'[containers]' \
		'default_ulimits = []' \
		'' \
		'[engine]' \
		'runtime = "runc"' | $SUDO tee "$CONTAINERS_CONF" >/dev/null
}

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
else
	echo "install-deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing
fi
containers_conf
