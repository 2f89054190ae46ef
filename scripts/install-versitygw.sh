#!/usr/bin/env bash
# install-versitygw.sh installs versitygw, the real S3 server the storage/s3
# tests start (see storage/storagetest.StartS3). It does nothing when the
# pinned version is already installed, so tests and CI can call it freely.
#
# Usage: scripts/install-versitygw.sh
# Env:   VERSITYGW_VERSION (default v1.8.0)
set -euo pipefail

version="${VERSITYGW_VERSION:-v1.8.0}"
gobin="$(go env GOBIN)"
if [ -z "$gobin" ]; then
	gobin="$(go env GOPATH)/bin"
fi
bin="$gobin/versitygw"

if [ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -q "mod[[:space:]]*github.com/versity/versitygw[[:space:]]*${version}"; then
	echo "versitygw ${version} already installed: $bin"
	exit 0
fi

echo "installing versitygw ${version} into $gobin (takes about a minute)..."
go install "github.com/versity/versitygw/cmd/versitygw@${version}"
"$bin" --version || true
echo "installed: $bin"
