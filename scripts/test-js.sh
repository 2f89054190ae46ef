#!/usr/bin/env bash
# Tests the TypeScript client in clients/js: npm ci, tsc, the unit tests
# (node:test) and the browser tests (Debian's Chromium, headless, against
# bin/ximagepipeline, which `make test-js` builds first). Without Node 20+ and
# npm the tests are skipped, saying why, except in CI (CI=true), where they fail.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

skip() {
	if [ "${CI:-}" = true ]; then
		echo "test-js: cannot run in CI: $1" >&2
		exit 1
	fi
	echo "test-js: skipped: $1"
	exit 0
}
command -v node >/dev/null || skip "node is not installed (Node 20 or later is needed)"
command -v npm >/dev/null || skip "npm is not installed"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || skip "node $(node --version) is older than 20"

cd clients/js
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
XIP_BIN="$root/bin/ximagepipeline" npm test
