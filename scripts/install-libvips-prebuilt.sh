#!/usr/bin/env bash
# Installs the prebuilt libvips that sharp ships on npm, for building
# ximagepipeline against it instead of Debian's libvips (docs/decisions.md,
# "The prebuilt libvips 8.18"). Usage: scripts/install-libvips-prebuilt.sh [DIR]
#
# Two packages from the npm registry, by their ordinary client (npm pack):
#   @img/sharp-libvips-linux-x64  lib/libvips-cpp.so.8.18.7: libvips with
#                                 glib, libjpeg (mozjpeg), libwebp 1.6,
#                                 libheif with aom (AVIF, no HEVC) linked in;
#                                 it exports libvips' and glib's C API
#   @img/sharp-libvips-dev        the headers
# into DIR (default .libvips/ at the top of the repository, git-ignored), as
#   DIR/lib/libvips.so -> libvips-cpp.so.8.18.7
#   DIR/include/...
#   DIR/lib/pkgconfig/vips.pc     for cgo's `#cgo pkg-config: vips`
# The version is pinned to the one sharp 0.35.5 uses (bench/run.sh's sharp
# reference), so that both sides of the benchmark run the same libvips.
# Does nothing when DIR already holds that version.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=1.3.4 # @img/sharp-libvips-* version: libvips 8.18.7
VIPS_SO=libvips-cpp.so.8.18.7
DIR=${1:-.libvips}

if [ "$(uname -sm)" != "Linux x86_64" ]; then
	echo "the prebuilt libvips is installed for Linux x86_64 only (this is $(uname -sm))" >&2
	exit 1
fi
if [ -f "$DIR/lib/pkgconfig/vips.pc" ] && grep -q "^# npm $VERSION$" "$DIR/lib/pkgconfig/vips.pc"; then
	exit 0
fi
command -v npm >/dev/null || {
	echo "installing npm (Debian) to fetch the prebuilt libvips..."
	if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends npm >/dev/null; else sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends npm >/dev/null; fi
}
echo "installing the prebuilt libvips 8.18 (npm @img/sharp-libvips-linux-x64@$VERSION) into $DIR..."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@img/sharp-libvips-linux-x64@$VERSION" "@img/sharp-libvips-dev@$VERSION" >/dev/null)
mkdir -p "$tmp/lib" "$tmp/dev"
tar -xzf "$tmp/img-sharp-libvips-linux-x64-$VERSION.tgz" -C "$tmp/lib"
tar -xzf "$tmp/img-sharp-libvips-dev-$VERSION.tgz" -C "$tmp/dev"
rm -rf "$DIR"
mkdir -p "$DIR/lib/pkgconfig"
cp -a "$tmp/dev/package/include" "$DIR/include"
cp "$tmp/lib/package/lib/$VIPS_SO" "$DIR/lib/"
cp -a "$tmp/lib/package/lib/glib-2.0" "$DIR/lib/" # glibconfig.h
cp "$tmp/lib/package/versions.json" "$DIR/versions.json"
ln -s "$VIPS_SO" "$DIR/lib/libvips.so"
abs=$(cd "$DIR" && pwd)
cat >"$DIR/lib/pkgconfig/vips.pc" <<EOF
# npm $VERSION
# The prebuilt libvips of sharp (@img/sharp-libvips-linux-x64): one shared
# library holding libvips and its dependencies. Written by
# scripts/install-libvips-prebuilt.sh.
prefix=$abs
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: vips
Description: libvips $(sed -n 's/.*"vips": "\([^"]*\)".*/\1/p' "$DIR/versions.json") prebuilt for sharp
Version: $(sed -n 's/.*"vips": "\([^"]*\)".*/\1/p' "$DIR/versions.json")
Libs: -L\${libdir} -lvips -Wl,-rpath,\${libdir}
Cflags: -I\${includedir} -I\${includedir}/glib-2.0 -I\${libdir}/glib-2.0/include
EOF
echo "prebuilt libvips $(sed -n 's/^Version: //p' "$DIR/lib/pkgconfig/vips.pc") in $DIR"
