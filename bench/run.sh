#!/usr/bin/env bash
# bench/run.sh: "make bench" runs this with the path of the built daemon.
#
#   bench/run.sh /path/to/vibewarden [extra harness options...]
#
# It runs the shared side-by-side harness (../shared/bench/run.sh, or
# $VW_BENCH_DIR/run.sh) in plain-HTTP mode (TLS with VW_BENCH_TLS=1),
# with vibewarden as the candidate
# on port 8446, next to nginx and HAProxy, 3 interleaved rounds of the
# ka, newconn and idle tests.  Extra arguments are passed to the harness
# after these defaults, so options given again win, e.g.
#   bench/run.sh build/vibewarden --repeat 1 --duration 5 --tests ka
#   bench/run.sh build/vibewarden --out vw-$(date +%F).tsv
#   VW_BENCH_ENV=VIBEWARDEN_RATE_LIMIT_ENABLED=false bench/run.sh ...
# The harness needs nginx, haproxy, wrk, h2load... (run it once with
# --install as root) and runs the candidate as user nobody when started as
# root, so the binary and bench.yaml must be readable by nobody.
set -euo pipefail

usage() {
	echo "usage: $0 /path/to/vibewarden [harness options...]" >&2
	exit 2
}

[ $# -ge 1 ] || usage
bin=$1
shift
[ -x "$bin" ] || { echo "$0: not an executable: $bin" >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)
bench_dir=${VW_BENCH_DIR:-$here/../../shared/bench}
harness=$bench_dir/run.sh
[ -f "$harness" ] || {
	echo "$0: harness not found: $harness (set VW_BENCH_DIR)" >&2
	exit 2
}

bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
conf=$here/bench.yaml

# The harness runs the candidate as nobody when started as root: warn
# early if that user cannot reach the binary or the config.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
	user=${BENCH_USER:-nobody}
	if uid=$(id -u "$user" 2>/dev/null); then
		gid=$(id -g "$user")
		for f in "$bin" "$conf"; do
			if ! setpriv --reuid="$uid" --regid="$gid" --clear-groups \
			    test -r "$f"; then
				echo "$0: warning: $user cannot read $f;" \
				    "the candidate will fail to start" >&2
			fi
		done
	fi
fi

# The command is rendered by the harness (@TOKENS@) and run as
# bash -c "exec CMD", so quote the paths for bash.
printf -v qbin '%q' "$bin"
printf -v qconf '%q' "$conf"
cmd="env VIBEWARDEN_SERVER_PORT=@PORT@ VIBEWARDEN_UPSTREAM_PORT=@UPSTREAM_PORT@"
cmd+=" VIBEWARDEN_SERVER_WORKERS=@WORKERS@ VIBEWARDEN_SHM_PATH=@TMP@/vw-shm"
# VW_BENCH_TLS=1: TLS mode, every target with the harness's certificate
# (ECDSA P-256), vibewarden with tls.provider external.
mode=--plain
if [ "${VW_BENCH_TLS:-0}" = 1 ]; then
	mode=
	cmd+=" VIBEWARDEN_TLS_ENABLED=true VIBEWARDEN_TLS_PROVIDER=external"
	cmd+=" VIBEWARDEN_TLS_CERT_PATH=@CERT@ VIBEWARDEN_TLS_KEY_PATH=@KEY@"
fi
# VW_BENCH_ENV: more NAME=value overrides for a variant, e.g.
# VW_BENCH_ENV=VIBEWARDEN_RATE_LIMIT_ENABLED=false to compare without.
cmd+=" ${VW_BENCH_ENV:-} $qbin -c $qconf"

exec "$harness" $mode --repeat 3 --tests "ka newconn idle" \
    --peers "nginx haproxy" --proxy-name vibewarden --proxy-port 8446 \
    --proxy-cmd "$cmd" "$@"
