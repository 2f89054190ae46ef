#!/usr/bin/env bash
# Installs what ximagepipeline needs on a Debian/Ubuntu machine, skipping
# what is already there. Usage: scripts/install-deps.sh [run|test]
#   run  (default): libvips, to build and run the service
#   test:           also PostgreSQL (tests start throwaway clusters), the
#                   versitygw S3 server (tests start throwaway ones) and
#                   Chromium (the dashboard's and clients/js's browser tests);
#                   clients/js also needs Node 20+ and npm, which it does not
#                   install (Debian's nodejs is older): it says so
set -euo pipefail
what=${1:-run}
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=
apt_install() {
	if [ -z "$apt_updated" ]; then
		sudo_if_needed apt-get update -qq
		apt_updated=1
	fi
	sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! pkg-config --exists vips 2>/dev/null; then
	echo "installing libvips (Debian libvips-dev)..."
	apt_install libvips-dev pkg-config
fi

if [ "$what" = test ]; then
	if ! command -v vipsheader >/dev/null; then
		echo "installing libvips-tools (tests cross-check their images with vipsheader; bench uses vips)..."
		apt_install libvips-tools
	fi
	if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
		echo "installing PostgreSQL (tests start their own throwaway clusters)..."
		apt_install postgresql
	fi
	bash scripts/install-versitygw.sh
	if ! command -v chromium >/dev/null; then
		echo "installing Chromium (the dashboard's and the JS client's browser tests drive it headless)..."
		apt_install chromium fonts-liberation
	fi
	if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ] || ! command -v npm >/dev/null; then
		echo "note: Node 20+ and npm are not installed: make test-js (clients/js) will be skipped (and fail in CI)"
	fi
fi
