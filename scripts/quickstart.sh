#!/bin/sh
# Quick start: installs the Debian packages glia needs, builds it, starts the
# local cluster in the background and serves the iris example.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
make -j2
export PATH="$PWD/build:$PATH"
if ! glia get >/dev/null 2>&1; then
	glia up -d
fi
cd examples/iris-classifier
glia deploy --wait
echo "prediction through the gateway:"
glia predict iris-classifier @sample.json
echo
echo "glia is at $(command -v glia); try: glia get, glia logs iris-classifier"
