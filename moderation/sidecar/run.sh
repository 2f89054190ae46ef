#!/usr/bin/env bash
# Installs (once, from the npm registry: the model's weights ship inside the
# nsfwjs package) and starts the offline moderation sidecar:
#
#   bash moderation/sidecar/run.sh
#   ximagepipeline serve --moderation http --moderation-url http://127.0.0.1:8790/moderate
#
# Settings are environment variables: PORT, HOST, NSFW_MODEL, NSFW_THRESHOLD,
# MODERATION_SECRET (see server.js).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v node >/dev/null; then
	echo "the sidecar needs Node.js 18 or later (apt-get install nodejs npm)" >&2
	exit 1
fi
if [ ! -d node_modules/nsfwjs ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	npm ci --no-audit --no-fund --loglevel=error
fi
exec node server.js
