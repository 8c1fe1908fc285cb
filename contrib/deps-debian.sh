#!/bin/sh
# contrib/deps-debian.sh: install everything needed to build, test, lint
# and run the demo of vibewarden on Debian 12 (bookworm) or later, and on
# Ubuntu.  The one list of build dependencies: README.md tells people to
# run it and .ci/run calls it, so the two cannot drift apart.
#
#   contrib/deps-debian.sh          (as root; or with sudo when it exists)
#
# Extra packages may be given as arguments.
set -eu

pkgs="build-essential autoconf automake pkg-config
libssl-dev libyaml-dev libmicrohttpd-dev liblmdb-dev libjansson-dev
libhiredis-dev libcurl4-openssl-dev libpcre2-dev libnghttp2-dev check
libmodsecurity-dev modsecurity-crs
clang libclang-rt-14-dev
python3 python3-yaml mandoc shellcheck ca-certificates procps
redis-server pebble prometheus python3-h2 nghttp2-client"

if [ "$(id -u)" -eq 0 ]; then
	run=
elif command -v sudo >/dev/null 2>&1; then
	run=sudo
else
	echo "$0: run as root (no sudo here)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$run apt-get update
# shellcheck disable=SC2086 # the lists are meant to split into words
$run apt-get install -y --no-install-recommends $pkgs "$@"
