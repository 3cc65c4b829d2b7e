#!/bin/sh
# Installs every Debian package glia needs to build, test and benchmark.
# Run as root or with sudo available. Safe to run again. prometheus gives
# tests/e2e/test_monitoring.py its server and promtool. The contenders of
# `make bench` (bench/run.sh, docs/performance.md) follow. The last line is
# for containers (docs/containers.md): `glia build` and the container tests
# use podman with runc and netavark, scripts/base-image.sh uses mmdebstrap,
# `make deb` uses dpkg-dev, `glia deploy --env` runs kubectl and its test
# pushes to docker-registry; podman's configuration is written below where
# none is set. catatonit builds the pause image of a pod's infra container
# and python3-yaml reads rendered files: tests/e2e/test_kube_play.py runs a
# rendered Deployment with `podman kube play`. python3-botocore checks the
# AWS Signature V4 of glia's S3 requests in tests/e2e/test_s3_models.py.
set -eu
PKGS="build-essential pkg-config git curl ca-certificates
libuv1-dev libhttp-parser-dev libyaml-dev libjansson-dev libsqlite3-dev libcurl4-openssl-dev libssl-dev
python3 python3-dev python3-numpy python3-sklearn python3-pytest
libcmocka-dev wrk procps clang libclang-rt-14-dev prometheus
python3-fastapi python3-uvicorn python3-uvloop python3-httptools
python3-flask gunicorn nginx python3-torch
podman runc conmon netavark aardvark-dns uidmap slirp4netns fuse-overlayfs mmdebstrap dpkg-dev docker-registry kubectl
catatonit python3-yaml python3-botocore"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# podman's configuration for glia's containers (docs/containers.md): runc
# and no rlimits set in containers (on the machines glia is tested on crun
# refuses the cgroup v1 hybrid mode and setting rlimits inside containers
# is refused), and the netavark network backend, whose aardvark-dns
# resolves network aliases (replicas sharing a name). Each setting is added
# only when no containers.conf sets it: a missing
# /etc/containers/containers.conf is written; an existing one gets the
# sections it lacks appended, and is otherwise left alone with a message.
CONTAINERS_CONF=/etc/containers/containers.conf
conf_is_set() { # KEY: set (uncommented) in some containers.conf
	for f in /usr/share/containers/containers.conf "$CONTAINERS_CONF" \
		/etc/containers/containers.conf.d/*.conf; do
		[ -r "$f" ] && grep -Eq "^[[:space:]]*$1[[:space:]]*=" "$f" && return 0
	done
	return 1
}
containers_conf() {
	add=""
	for setting in "containers default_ulimits = []" \
		'engine runtime = "runc"' \
		'network network_backend = "netavark"'; do
		section=${setting%% *}
		line=${setting#* }
		key=${line%% *}
		if conf_is_set "$key"; then
			continue
		fi
		if [ -e "$CONTAINERS_CONF" ] && grep -q "^\[$section\]" "$CONTAINERS_CONF"; then
			echo "install-deps: $CONTAINERS_CONF has a [$section] section without" \
				"$key; add under it: $line" >&2
			continue
		fi
		add="$add
[$section]
$line
"
	done
	if [ -z "$add" ]; then
		echo "install-deps: podman's configuration is in place"
		return 0
	fi
	$SUDO mkdir -p /etc/containers
	if [ -e "$CONTAINERS_CONF" ]; then
		echo "install-deps: adding to $CONTAINERS_CONF:$add"
	else
		echo "install-deps: writing $CONTAINERS_CONF:$add"
		add="# Written by glia's scripts/install-deps.sh (docs/containers.md).
$add"
	fi
	printf '%s' "$add" | $SUDO tee -a "$CONTAINERS_CONF" >/dev/null
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

# The schemas glia render k8s is validated against (tests/k8s, read by
# tests/e2e/test_render_k8s.py): node and npm (Debian's nodejs and npm
# when the commands are missing; a nodejs that ships npm is kept), then the
# npm packages of tests/k8s/package-lock.json, from the npm registry.
for cmd in node npm; do
	command -v "$cmd" >/dev/null 2>&1 && continue
	p=$cmd
	[ "$cmd" = node ] && p=nodejs
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get install -y -qq --no-install-recommends "$p" ||
		{ $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "$p"; }
done
k8s="$(cd "$(dirname "$0")/.." && pwd)/tests/k8s"
if [ -d "$k8s/node_modules/@kubernetes-models/keda" ] &&
	[ -d "$k8s/node_modules/@kubernetes-models/gateway-api" ] &&
	[ -d "$k8s/node_modules/kubernetes-models" ] && [ -d "$k8s/node_modules/js-yaml" ]; then
	echo "install-deps: the npm packages of tests/k8s are in place"
else
	echo "install-deps: npm ci in tests/k8s"
	(cd "$k8s" && npm ci --no-audit --no-fund)
fi

# The local S3-compatible server of tests/e2e/test_s3_models.py (npm's
# s3rver, tests/s3/package-lock.json).
s3="$(cd "$(dirname "$0")/.." && pwd)/tests/s3"
if [ -d "$s3/node_modules/s3rver" ]; then
	echo "install-deps: the npm packages of tests/s3 are in place"
else
	echo "install-deps: npm ci in tests/s3"
	(cd "$s3" && npm ci --no-audit --no-fund)
fi
