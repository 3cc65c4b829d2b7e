#!/bin/sh
# Builds the base image of `glia build` without any image registry: a Debian
# 12 root file system made by mmdebstrap from Debian's own packages, imported
# into podman as docker.io/library/debian:bookworm-slim (the name `glia build`
# uses by default), so air-gapped machines and machines with no registry
# access build images the same way as everyone else.
#
#   scripts/base-image.sh [--force] [--mirror URL] [--engine podman|docker] [IMAGE]
#
# Does nothing when IMAGE exists already, unless --force. The Debian mirror
# is --mirror, else $GLIA_DEBIAN_MIRROR, else the mirror of the host's apt
# sources (so a machine pointed at a local mirror builds from it), else
# mmdebstrap's default (deb.debian.org plus bookworm-updates and
# bookworm-security). Like Docker's slim image, manual pages, documentation
# and translations are left out (a dpkg path-exclude that stays in the image,
# so packages installed later leave them out too). Needs root (or a working
# unshare mode of mmdebstrap), mmdebstrap and the engine: see
# scripts/install-deps.sh and docs/containers.md.
set -eu

IMAGE=docker.io/library/debian:bookworm-slim
SUITE=bookworm
FORCE=0
MIRROR="${GLIA_DEBIAN_MIRROR:-}"
ENGINE="${GLIA_ENGINE:-podman}"

usage() {
	echo "usage: $0 [--force] [--mirror URL] [--engine podman|docker] [IMAGE]" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--force) FORCE=1 ;;
	--mirror)
		[ $# -ge 2 ] || usage
		MIRROR="$2"
		shift
		;;
	--mirror=*) MIRROR="${1#--mirror=}" ;;
	--engine)
		[ $# -ge 2 ] || usage
		ENGINE="$2"
		shift
		;;
	--engine=*) ENGINE="${1#--engine=}" ;;
	-h | --help) usage ;;
	-*) usage ;;
	*) IMAGE="$1" ;;
	esac
	shift
done

for tool in mmdebstrap "$ENGINE"; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "base-image: $tool not found: run scripts/install-deps.sh (apt-get install mmdebstrap podman)" >&2
		exit 1
	fi
done

if [ "$FORCE" = 0 ] && "$ENGINE" image inspect "$IMAGE" >/dev/null 2>&1; then
	echo "base-image: $IMAGE exists (--force builds it again)"
	exit 0
fi

# The host's Debian mirror: the first URI of a source for the suite itself
# (not -updates or -security), from one-line or deb822 sources.
host_mirror() {
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		awk -v s="$SUITE" '$1 == "deb" {
			i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
			if ($(i + 1) == s) { print $i; exit } }' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk -v s="$SUITE" 'BEGIN { RS = ""; FS = "\n" } {
			uri = ""; ok = 0; deb = 0
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^URIs:/) { split($i, a, " "); uri = a[2] }
				if ($i ~ /^Types:/ && $i ~ /[ \t]deb([ \t]|$)/) deb = 1
				if ($i ~ /^Suites:/) {
					n = split($i, b, " ")
					for (j = 2; j <= n; j++) if (b[j] == s) ok = 1
				}
			}
			if (deb && ok && uri != "") { print uri; exit } }' "$f"
	done
}

if [ -z "$MIRROR" ]; then
	MIRROR="$(host_mirror | head -n 1)"
	case "$MIRROR" in
	# mmdebstrap's default, which also adds the updates and security suites
	http://deb.debian.org/debian | http://deb.debian.org/debian/ | "") MIRROR="" ;;
	*) echo "base-image: using the host's Debian mirror $MIRROR" ;;
	esac
fi

echo "base-image: building $IMAGE from Debian $SUITE packages (a few minutes)"
start=$(date +%s)
# mmdebstrap writes a tar stream to stdout; the engine imports it as a
# one-layer image whose default command is bash, as Docker's debian images.
# shellcheck disable=SC2086
mmdebstrap --variant=apt --quiet \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-include=/usr/share/locale/locale.alias' \
	"$SUITE" - $MIRROR |
	"$ENGINE" import --change 'CMD ["bash"]' - "$IMAGE"
echo "base-image: $IMAGE built in $(($(date +%s) - start))s"
