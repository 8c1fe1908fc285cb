#!/usr/bin/env bash
# bench/ab.sh: A/B benchmark of two vibewarden configurations, same binary,
# same box, same run, interleaved.
#
#   bench/ab.sh [options] A B
#
# A and B name variants of bench/bench.yaml: "base" is bench.yaml itself;
# any other NAME is the overlay bench/ab/NAME.yaml (or a path to a .yaml
# file).  An overlay is a YAML mapping of whole top-level sections: each
# section it has replaces bench.yaml's section of that name, the others are
# kept.  Overlays may use ${AB_PORT}, ${AB_ADMIN_PORT}, ${AB_UPSTREAM_PORT},
# ${AB_AUX_PORT} and ${AB_TMP} (vibewarden expands them at load time).
#
# It starts the harness's upstream (nginx, ../shared/bench/configs/
# upstream-nginx.conf), the -x helpers, then vibewarden A on $AB_PORT_A and
# B on $AB_PORT_B (plain HTTP, 2 workers, each in its own session, as root:
# the master drops to bench.yaml's server.user), checks that both answer
# GET / with 200, warms both up, then runs ROUNDS alternating
# `wrk -t2 -c64 -dSECSs` rounds (A, B, A, B, ...).  It prints per round
# requests/s, CPU µs per request of the whole vibewarden process tree
# (user+sys from /proc, as the harness does), non-2xx counts, the CPU of the
# helpers per request, then medians and the B/A ratios, and `uptime`
# before and after.
#
# Options:
#   -n ROUNDS   rounds per side (default 5)
#   -d SECS     seconds per round (default 5)
#   -w SECS     warm-up per side (default 2)
#   -c CONNS    wrk connections (default 64); -t THREADS (default 2)
#   -p PATH     request path (default /)
#   -H 'Name: value'  header on every request to both sides (repeatable)
#   -l SCRIPT   wrk Lua script for both sides (e.g. bench/ab/post.lua)
#   -x 'CMD'    helper started before vibewarden and stopped at the end, in
#               its own session, in the temp dir, with the AB_* variables
#               exported (AB_BENCH is this bench/ directory) (a JWKS or
#               Kratos stand-in, redis-server...) (repeatable)
#   -s 'CMD'    side load run during every B round only (e.g. a metrics
#               scraper), started just before wrk and stopped after it,
#               with AB_* exported for B (AB_PORT, AB_ADMIN_PORT)
#   -b BINARY   vibewarden binary (default: ./vibewarden next to bench/)
#   -k          keep the temp dir
# Environment: AB_PORT_A (18446), AB_PORT_B (18447), AB_ADMIN_PORT_A
# (19446), AB_ADMIN_PORT_B (19447), AB_UPSTREAM_PORT (13000), AB_AUX_PORT
# (13001), AB_WORKERS (2), AB_ENV_A / AB_ENV_B (more NAME=value settings
# for one side, blank-separated), VW_BENCH_DIR (the shared harness).
#
# Examples:
#   bench/ab.sh base ratelimit-off
#   bench/ab.sh -H 'X-API-Key: bench-key' auth-none auth-apikey
#   bench/ab.sh -s 'python3 bench/ab/scrape.py 10' metrics metrics
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
ROUNDS=5 SECS=5 WARM=2 CONNS=64 THREADS=2 RPATH=/ KEEP=0
BIN=$here/../vibewarden
declare -a HDRS=() AUX=()
SIDE='' LUA=''

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

while getopts 'n:d:w:c:t:p:H:l:x:s:b:kh' o; do
	case $o in
	n) ROUNDS=$OPTARG ;;
	d) SECS=$OPTARG ;;
	w) WARM=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	t) THREADS=$OPTARG ;;
	p) RPATH=$OPTARG ;;
	H) HDRS+=(-H "$OPTARG") ;;
	l) LUA=$(cd "$(dirname "$OPTARG")" && pwd)/$(basename "$OPTARG") ;;
	x) AUX+=("$OPTARG") ;;
	s) SIDE=$OPTARG ;;
	b) BIN=$OPTARG ;;
	k) KEEP=1 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || usage

die() { echo "ab.sh: $*" >&2; exit 1; }

BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
[ -x "$BIN" ] || die "not an executable: $BIN"
BENCH_DIR=${VW_BENCH_DIR:-$here/../../shared/bench}
UPCONF=$BENCH_DIR/configs/upstream-nginx.conf
[ -f "$UPCONF" ] || die "no $UPCONF (set VW_BENCH_DIR)"
for t in wrk nginx curl awk; do
	command -v "$t" >/dev/null || die "$t not found"
done

export AB_UPSTREAM_PORT=${AB_UPSTREAM_PORT:-13000}
export AB_AUX_PORT=${AB_AUX_PORT:-13001}
export AB_SECRET=${AB_SECRET:-bench-webhook-secret}
export AB_BENCH=$here
PORT_A=${AB_PORT_A:-18446} PORT_B=${AB_PORT_B:-18447}
ADMIN_A=${AB_ADMIN_PORT_A:-19446} ADMIN_B=${AB_ADMIN_PORT_B:-19447}
WORKERS=${AB_WORKERS:-2}

overlay_of() { # variant -> overlay file, or "" for base
	case $1 in
	base) echo "" ;;
	*.yaml | */*) [ -f "$1" ] || die "no such overlay: $1"; echo "$1" ;;
	*) [ -f "$here/ab/$1.yaml" ] || die "no such variant: $1 ($here/ab/$1.yaml)"
	   echo "$here/ab/$1.yaml" ;;
	esac
}
OV_A=$(overlay_of "$1") OV_B=$(overlay_of "$2")
NAME_A=$1 NAME_B=$2

TMP=$(mktemp -d -t vwab.XXXXXX)
chmod 755 "$TMP"
export AB_TMP=$TMP
declare -a PIDS=()

stop_group() { # pid: TERM its process group, KILL after 5 s
	local pid=$1 i
	kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
		[ "$i" -lt 50 ] || kill -KILL -- "-$pid" 2>/dev/null || true
	done
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local pid
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do stop_group "$pid"; done
	if [ "$KEEP" = 1 ]; then echo "# temp dir kept: $TMP" >&2; else rm -rf -- "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

LAST_PID=
start() { # name port cmd... ; port 0: do not wait for a listener
	local name=$1 port=$2 pid i
	shift 2
	if [ "$port" != 0 ] && port_busy "$port"; then die "port $port busy (for $name)"; fi
	( cd "$TMP" && exec setsid "$@" ) >"$TMP/$name.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	LAST_PID=$pid
	[ "$port" != 0 ] || return 0
	for i in $(seq 1 150); do
		kill -0 "$pid" 2>/dev/null || { sed 's/^/    /' "$TMP/$name.log" >&2; die "$name exited"; }
		port_busy "$port" && return 0
		sleep 0.1
	done
	die "$name did not listen on $port"
}

tree_pids() { ps -e -o pid=,sid= | awk -v s="$1" '$2 == s { print $1 }'; }

cpu_ticks() { # summed utime+stime of the session led by $1
	local p total=0 t
	for p in $(tree_pids "$1"); do
		t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }') || true
		[ -n "$t" ] && total=$((total + t))
	done
	echo "$total"
}

HZ=$(getconf CLK_TCK)
us_per() { awk -v d="$1" -v hz="$HZ" -v n="$2" 'BEGIN { if (n > 0) printf "%.2f", d / hz * 1e6 / n; else print "NA" }'; }

render_conf() { # overlay out: bench.yaml minus the overlay's sections, plus the overlay
	local ov=$1 out=$2
	if [ -z "$ov" ]; then cp "$here/bench.yaml" "$out"; return; fi
	awk 'NR == FNR { if (match($0, /^[A-Za-z_][A-Za-z0-9_]*:/)) drop[substr($0, 1, RLENGTH)] = 1; next }
	     /^[A-Za-z_][A-Za-z0-9_]*:/ { k = $0; sub(/:.*/, ":", k); skip = (k in drop) }
	     !skip' "$ov" "$here/bench.yaml" >"$out"
	printf '\n# ---- overlay %s\n' "$ov" >>"$out"
	cat "$ov" >>"$out"
}

# ---- upstream, helpers, the two instances ----------------------------------
mkdir -p "$TMP/up"
sed -e "s|@TMP@|$TMP/up|g" -e "s|@UPSTREAM_WORKERS@|1|g" \
    -e "s|@UPSTREAM_PORT@|$AB_UPSTREAM_PORT|g" "$UPCONF" >"$TMP/upstream.conf"
start upstream "$AB_UPSTREAM_PORT" nginx -e "$TMP/up/error.log" -p "$TMP/up" -c "$TMP/upstream.conf"

AUX_PIDS=()
for i in "${!AUX[@]}"; do
	start "aux$i" 0 bash -c "${AUX[$i]}"
	AUX_PIDS+=("$LAST_PID")
done
sleep 1
for i in "${!AUX[@]}"; do
	kill -0 "${AUX_PIDS[$i]}" 2>/dev/null || { cat "$TMP/aux$i.log" >&2; die "helper exited: ${AUX[$i]}"; }
done

declare -A VPID PORT ADMIN
for side in A B; do
	if [ $side = A ]; then ov=$OV_A port=$PORT_A admin=$ADMIN_A extra=${AB_ENV_A:-}
	else ov=$OV_B port=$PORT_B admin=$ADMIN_B extra=${AB_ENV_B:-}; fi
	PORT[$side]=$port ADMIN[$side]=$admin
	mkdir -p "$TMP/$side"
	render_conf "$ov" "$TMP/$side/vibewarden.yaml"
	# shellcheck disable=SC2086 # $extra is a list of NAME=value words
	env AB_PORT="$port" AB_ADMIN_PORT="$admin" \
	    VIBEWARDEN_SERVER_PORT="$port" VIBEWARDEN_UPSTREAM_PORT="$AB_UPSTREAM_PORT" \
	    VIBEWARDEN_SERVER_WORKERS="$WORKERS" VIBEWARDEN_SHM_PATH="$TMP/$side/shm" \
	    $extra "$BIN" -t -c "$TMP/$side/vibewarden.yaml" >"$TMP/$side/check.log" 2>&1 ||
	    { cat "$TMP/$side/check.log" >&2; die "$side: configuration refused"; }
	# shellcheck disable=SC2086
	start "vw$side" "$port" env AB_PORT="$port" AB_ADMIN_PORT="$admin" \
	    VIBEWARDEN_SERVER_PORT="$port" VIBEWARDEN_UPSTREAM_PORT="$AB_UPSTREAM_PORT" \
	    VIBEWARDEN_SERVER_WORKERS="$WORKERS" VIBEWARDEN_SHM_PATH="$TMP/$side/shm" \
	    $extra "$BIN" -c "$TMP/$side/vibewarden.yaml"
	VPID[$side]=$LAST_PID
done
sleep 1

curl_hdrs=()
for ((i = 1; i < ${#HDRS[@]}; i += 2)); do curl_hdrs+=(-H "${HDRS[$i]}"); done
for side in A B; do
	code=$(curl -s -o "$TMP/$side/check.body" -w '%{http_code}' ${curl_hdrs[@]+"${curl_hdrs[@]}"} \
	    "http://127.0.0.1:${PORT[$side]}$RPATH") || code=000
	[ "$code" = 200 ] || { cat "$TMP/$side/check.body" >&2; tail -5 "$TMP/vw$side.log" >&2
		die "$side: GET $RPATH answered $code, not 200"; }
done

# ---- rounds ----------------------------------------------------------------
run_wrk() { # side secs outfile
	local lua=()
	[ -z "$LUA" ] || lua=(-s "$LUA")
	wrk -t"$THREADS" -c"$CONNS" -d"$2"s ${HDRS[@]+"${HDRS[@]}"} ${lua[@]+"${lua[@]}"} \
	    "http://127.0.0.1:${PORT[$1]}$RPATH" >"$3" 2>&1
}
aux_ticks() {
	local t=0 p
	for p in ${AUX_PIDS[@]+"${AUX_PIDS[@]}"}; do t=$((t + $(cpu_ticks "$p"))); done
	echo "$t"
}

echo "# ab.sh $(date -u +%FT%TZ) host $(uname -n), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))"
echo "# binary $BIN ($(cd "$here" && git rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo "# A=$NAME_A (:$PORT_A)  B=$NAME_B (:$PORT_B)  wrk -t$THREADS -c$CONNS -d${SECS}s $RPATH ${HDRS[*]:-}  rounds=$ROUNDS${LUA:+ lua=$LUA}"
[ -z "$SIDE" ] || echo "# side load during B rounds: $SIDE"
echo "# uptime before: $(uptime)"
for side in A B; do run_wrk "$side" "$WARM" "$TMP/warm.$side.txt"; done

declare -A RPS CPU ERR AUXC
printf 'round\tside\tvariant\trps\tcpu_us/req\tnon2xx\terrors\taux_us/req\n'
for r in $(seq 1 "$ROUNDS"); do
	for side in A B; do
		out=$TMP/round.$r.$side.txt
		spid=
		if [ $side = B ] && [ -n "$SIDE" ]; then
			AB_PORT=${PORT[B]} AB_ADMIN_PORT=${ADMIN[B]} start "side$r" 0 bash -c "$SIDE"
			spid=$LAST_PID
		fi
		c0=$(cpu_ticks "${VPID[$side]}") a0=$(aux_ticks)
		run_wrk "$side" "$SECS" "$out"
		c1=$(cpu_ticks "${VPID[$side]}") a1=$(aux_ticks)
		[ -z "$spid" ] || stop_group "$spid"
		n=$(awk '/ requests in / { print $1 }' "$out")
		RPS[$side,$r]=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
		CPU[$side,$r]=$(us_per $((c1 - c0)) "${n:-0}")
		AUXC[$side,$r]=$(us_per $((a1 - a0)) "${n:-0}")
		ERR[$side,$r]=$(awk '/Non-2xx/ { print $NF }' "$out")
		sock=$(awk '/Socket errors/ { print $0 }' "$out" | sed 's/^ *Socket errors: //; s/ //g')
		name=$NAME_A; [ $side = A ] || name=$NAME_B
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$side" "$name" "${RPS[$side,$r]:-NA}" \
		    "${CPU[$side,$r]}" "${ERR[$side,$r]:-0}" "${sock:--}" "${AUXC[$side,$r]}"
	done
done
echo "# uptime after:  $(uptime)"
[ -z "$SIDE" ] || for r in $(seq 1 "$ROUNDS"); do
	[ -s "$TMP/side$r.log" ] && echo "# side load, round $r: $(tail -1 "$TMP/side$r.log")"
done

median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END {
	if (NR == 0) { print "NA"; exit }
	if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b != "NA") printf "%.3f", b / a; else print "NA" }'; }
col() { local s=$1 m=$2 r out=""; for r in $(seq 1 "$ROUNDS"); do
	case $m in rps) out+=" ${RPS[$s,$r]:-}" ;; cpu) out+=" ${CPU[$s,$r]:-}" ;; aux) out+=" ${AUXC[$s,$r]:-}" ;; esac
	done; echo "$out"; }

mra=$(col A rps | median) mrb=$(col B rps | median)
mca=$(col A cpu | median) mcb=$(col B cpu | median)
echo "median_A: rps=$mra cpu_us/req=$mca aux_us/req=$(col A aux | median)  ($NAME_A)"
echo "median_B: rps=$mrb cpu_us/req=$mcb aux_us/req=$(col B aux | median)  ($NAME_B)"
pr="" pc=""
for r in $(seq 1 "$ROUNDS"); do
	pr+=" $(ratio "${RPS[A,$r]:-0}" "${RPS[B,$r]:-NA}")"
	pc+=" $(ratio "${CPU[A,$r]:-0}" "${CPU[B,$r]:-NA}")"
done
echo "per-round B/A rps:${pr}   cpu:${pc}"
echo "ratio_B_over_A: rps=$(ratio "$mra" "$mrb") (higher is better)  cpu_us/req=$(ratio "$mca" "$mcb") (lower is better)  median of rounds: rps=$(echo "$pr" | median) cpu=$(echo "$pc" | median)"
