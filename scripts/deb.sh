#!/bin/sh
# Builds glia's Debian package from a staged `make install` tree, with the
# standard tools (dpkg-shlibdeps, dpkg-deb). `make deb` runs it:
#
#   scripts/deb.sh ROOT VERSION OUTDIR
#
# ROOT holds usr/... as `make install DESTDIR=ROOT PREFIX=/usr
# PKGCONFIGDIR=/usr/share/pkgconfig` leaves it. Writes
# OUTDIR/glia_VERSION_ARCH.deb and prints its path. Depends: the libraries
# usr/bin/glia links, with their minimum versions (dpkg-shlibdeps, which
# needs dpkg-dev), plus python3 (Python predictors and the worker's runtime,
# python/glia). Without dpkg-shlibdeps the same packages are listed without
# versions. The package installs with `apt-get install ./glia_*.deb`.
set -eu
if [ $# -ne 3 ]; then
	echo "usage: $0 ROOT VERSION OUTDIR" >&2
	exit 2
fi
root=$1
version=$2
outdir=$3
arch=$(dpkg --print-architecture)
exe="$root/usr/bin/glia"
# The packages glia links, as `glia build` installs them in images
# (src/build.c, glia_build_runtime_packages): keep both lists alike.
fallback="libc6, libcurl4, libhttp-parser2.9, libjansson4, libpython3.11, libsqlite3-0, libssl3, libuv1, libyaml-0-2"

[ -x "$exe" ] || {
	echo "deb: $exe missing: run make install DESTDIR=$root PREFIX=/usr first" >&2
	exit 1
}
# Executables in Debian packages are stripped; the dynamic symbol table
# (-rdynamic: Python extension modules use it) stays.
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$exe"

shlibs=""
if command -v dpkg-shlibdeps >/dev/null 2>&1; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	mkdir "$tmp/debian"
	printf 'Source: glia\n\nPackage: glia\nArchitecture: any\n' >"$tmp/debian/control"
	exe_abs=$(cd "$(dirname "$exe")" && pwd)/glia
	shlibs=$(cd "$tmp" && dpkg-shlibdeps -O "$exe_abs" 2>/dev/null |
		sed -n 's/^shlibs:Depends=//p') || shlibs=""
fi
if [ -z "$shlibs" ]; then
	echo "deb: dpkg-shlibdeps unavailable (apt-get install dpkg-dev): Depends without versions" >&2
	shlibs=$fallback
fi

mkdir -p "$root/DEBIAN"
chmod 755 "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: glia
Version: $version
Architecture: $arch
Maintainer: glia maintainers <maintainers@glia.invalid>
Installed-Size: $size
Depends: $shlibs, python3
Section: net
Priority: optional
Description: serves machine-learning models as HTTP APIs
 glia turns a trained model into a production web service: a Python class,
 a C shared library or any HTTP server plus a short YAML file become an HTTP
 API served by a C gateway, with supervised replicas, autoscaling, rolling
 updates and Prometheus metrics. It deploys Cortex projects unchanged.
 .
 This package holds the glia binary, the Python package its workers use
 (/usr/share/glia/python), the C predictor header (glia/predictor.h) and
 its pkg-config file (glia.pc).
CONTROL
mkdir -p "$outdir"
out="$outdir/glia_${version}_${arch}.deb"
dpkg-deb --build --root-owner-group "$root" "$out" >/dev/null
echo "$out"
