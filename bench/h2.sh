#!/usr/bin/env bash
# bench/h2.sh: HTTP/2 over TLS, vibewarden against nginx and HAProxy doing
# the harness peers' job (bench/h2/nginx-h2.conf, bench/h2/haproxy-h2.cfg:
# ../shared/bench/configs with h2 offered by ALPN), same box, same run.
#
#   bench/h2.sh [-r ROUNDS] [-D SECS] [-t THREADS] [-n IDLE_CONNS] [-b BINARY] [-k]
#
# It makes an ECDSA P-256 certificate as the harness does, starts the
# harness's upstream (nginx return 200, 100 B), nginx, HAProxy and
# vibewarden (bench/bench.yaml with tls.provider external, server.http2
# true, server.keepalive_requests 0 like the peers' 1000000; 2 workers),
# each in its own session, as root (nginx's and vibewarden's workers drop
# to nobody), and checks that each answers GET / over h2 with 200.  Then:
#  - idle memory: for each target, the summed RSS of its process tree
#    before and with N idle connections held, each after one request,
#    every measurement on a freshly restarted target (so no connection
#    reuses the memory of an earlier one): HTTP/1.1 over TLS (the harness's
#    idle_conns.py), HTTP/2 (bench/h2/idle_h2.py), then both again;
#    KB per idle connection = RSS delta / N;
#  - ROUNDS interleaved rounds (nginx, HAProxy, vibewarden, then again) of
#    `h2load -tTHREADS -c64 -m10 -DSECS` after a 2 s warm-up each: requests/s
#    and CPU µs per request of the target's whole process tree (user+sys
#    from /proc, as the harness does); medians and ratios vibewarden ÷ peer.
# Defaults: 3 rounds of 8 s, 2 h2load threads (as wrk -t2 in the harness),
# 500 idle connections.  Ports (environment): H2_UPSTREAM_PORT 13100,
# H2_NGINX_PORT 18543, H2_HAPROXY_PORT 18544, H2_VW_PORT 18546.
# Needs nginx, haproxy, h2load (nghttp2-client), curl, openssl and
# python3-h2.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
ROUNDS=3 SECS=8 THREADS=2 IDLE=500 KEEP=0
BIN=$here/../vibewarden
while getopts 'r:D:t:n:b:kh' o; do
	case $o in
	r) ROUNDS=$OPTARG ;;
	D) SECS=$OPTARG ;;
	t) THREADS=$OPTARG ;;
	n) IDLE=$OPTARG ;;
	b) BIN=$OPTARG ;;
	k) KEEP=1 ;;
	*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
die() { echo "h2.sh: $*" >&2; exit 1; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
[ -x "$BIN" ] || die "not an executable: $BIN"
BENCH_DIR=${VW_BENCH_DIR:-$here/../../shared/bench}
[ -f "$BENCH_DIR/idle_conns.py" ] || die "no harness in $BENCH_DIR (set VW_BENCH_DIR)"
for t in nginx haproxy h2load curl openssl python3; do
	command -v "$t" >/dev/null || die "$t not found"
done

UP=${H2_UPSTREAM_PORT:-13100}
declare -A PORT=([nginx]=${H2_NGINX_PORT:-18543} [haproxy]=${H2_HAPROXY_PORT:-18544}
	[vibewarden]=${H2_VW_PORT:-18546})
TARGETS=(nginx haproxy vibewarden)

TMP=$(mktemp -d -t vwh2.XXXXXX)
chmod 755 "$TMP"
declare -a PIDS=()
declare -A PID_OF=()

stop_group() {
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
start() { # name port cmd...
	local name=$1 port=$2 pid i
	shift 2
	if port_busy "$port"; then die "port $port busy (for $name)"; fi
	( cd "$TMP" && exec setsid "$@" ) >"$TMP/$name.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	PID_OF[$name]=$pid
	for i in $(seq 1 150); do
		kill -0 "$pid" 2>/dev/null || { sed 's/^/    /' "$TMP/$name.log" >&2; die "$name exited"; }
		port_busy "$port" && return 0
		sleep 0.1
	done
	die "$name did not listen on $port"
}
tree_pids() { ps -e -o pid=,sid= | awk -v s="$1" '$2 == s { print $1 }'; }
cpu_ticks() {
	local p total=0 t
	for p in $(tree_pids "$1"); do
		t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }') || true
		[ -n "$t" ] && total=$((total + t))
	done
	echo "$total"
}
rss_kb() {
	local p total=0 r
	for p in $(tree_pids "$1"); do
		r=$(ps -o rss= -p "$p" 2>/dev/null | tr -d ' ') || true
		[ -n "$r" ] && total=$((total + r))
	done
	echo "$total"
}
HZ=$(getconf CLK_TCK)
us_per() { awk -v d="$1" -v hz="$HZ" -v n="$2" 'BEGIN { if (n > 0) printf "%.2f", d / hz * 1e6 / n; else print "NA" }'; }

# ---- certificate (as the harness: P-256, CN localhost) and servers ----------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	-keyout "$TMP/key.pem" -out "$TMP/cert.pem" >/dev/null 2>&1 || die "openssl req failed"
cat "$TMP/cert.pem" "$TMP/key.pem" >"$TMP/combined.pem"
chmod 600 "$TMP/key.pem" "$TMP/combined.pem"
for d in up-body up-proxy up-fcgi up-uwsgi up-scgi ng-body ng-proxy ng-fcgi ng-uwsgi ng-scgi; do
	mkdir -p "$TMP/$d"
done
render() {
	sed -e "s|@TMP@|$TMP|g" -e "s|@WORKERS@|2|g" -e "s|@UPSTREAM_WORKERS@|1|g" \
	    -e "s|@UPSTREAM_PORT@|$UP|g" -e "s|@NGINX_PORT@|${PORT[nginx]}|g" \
	    -e "s|@HAPROXY_PORT@|${PORT[haproxy]}|g" "$1" >"$2"
}
render "$BENCH_DIR/configs/upstream-nginx.conf" "$TMP/upstream.conf"
render "$here/h2/nginx-h2.conf" "$TMP/nginx.conf"
render "$here/h2/haproxy-h2.cfg" "$TMP/haproxy.cfg"
start upstream "$UP" nginx -e "$TMP/upstream-error.log" -p "$TMP" -c "$TMP/upstream.conf"
start_target() { # target: (re)start it on its port
	case $1 in
	nginx) start nginx "${PORT[nginx]}" nginx -e "$TMP/nginx-error.log" -p "$TMP" -c "$TMP/nginx.conf" ;;
	haproxy) start haproxy "${PORT[haproxy]}" haproxy -db -f "$TMP/haproxy.cfg" ;;
	vibewarden)
		rm -rf "$TMP/vw-shm"
		start vibewarden "${PORT[vibewarden]}" env VIBEWARDEN_SERVER_PORT="${PORT[vibewarden]}" \
		    VIBEWARDEN_UPSTREAM_PORT="$UP" VIBEWARDEN_SERVER_WORKERS=2 \
		    VIBEWARDEN_SHM_PATH="$TMP/vw-shm" VIBEWARDEN_SERVER_KEEPALIVE_REQUESTS=0 \
		    VIBEWARDEN_TLS_ENABLED=true VIBEWARDEN_TLS_PROVIDER=external \
		    VIBEWARDEN_TLS_CERT_PATH="$TMP/cert.pem" VIBEWARDEN_TLS_KEY_PATH="$TMP/key.pem" \
		    VIBEWARDEN_SERVER_HTTP2=true "$BIN" -c "$here/bench.yaml" ;;
	esac
}
restart_target() { # target: stop it, wait for its port to be free, start it
	local i old=${PID_OF[$1]} keep=() p
	stop_group "$old"
	for p in "${PIDS[@]}"; do [ "$p" = "$old" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
	for i in $(seq 1 50); do port_busy "${PORT[$1]}" || break; sleep 0.1; done
	start_target "$1"
	sleep 1
}
for t in "${TARGETS[@]}"; do start_target "$t"; done
sleep 1
for t in "${TARGETS[@]}"; do
	v=$(curl -sk --http2 -o /dev/null -D "$TMP/$t.hdr" -w '%{http_version} %{http_code}' \
	    "https://127.0.0.1:${PORT[$t]}/") || v="curl failed"
	[ "$v" = "2 200" ] || die "$t: expected HTTP/2 200, got $v"
	n=$(grep -ciE '^(strict-transport-security|x-content-type-options|x-frame-options|referrer-policy|content-security-policy|cross-origin-opener-policy|cross-origin-resource-policy):' "$TMP/$t.hdr" || true)
	echo "# $t: GET / over h2 -> 200, security headers $n/7"
done

echo "# h2.sh $(date -u +%FT%TZ) host $(uname -n), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))"
echo "# vibewarden $BIN ($(cd "$here" && git rev-parse --short HEAD 2>/dev/null || echo '?')), $(nginx -v 2>&1), $(haproxy -v | head -1 | cut -d' ' -f1-3), $(openssl version)"
echo "# uptime before: $(uptime)"

# ---- idle connections ------------------------------------------------------
idle() { # target kind(h1|h2) -> KB per idle connection
	local t=$1 kind=$2 r0 r1 pid i script
	script=$BENCH_DIR/idle_conns.py
	[ "$kind" = h1 ] || script=$here/h2/idle_h2.py
	r0=$(rss_kb "${PID_OF[$t]}")
	( ulimit -n 8192; exec setsid python3 "$script" "https://127.0.0.1:${PORT[$t]}/" "$IDLE" --hold 120 ) \
	    >"$TMP/idle.$t.$kind.log" 2>&1 &
	pid=$!
	for i in $(seq 1 600); do
		grep -q READY "$TMP/idle.$t.$kind.log" && break
		kill -0 "$pid" 2>/dev/null || { cat "$TMP/idle.$t.$kind.log" >&2; echo NA; return; }
		sleep 0.1
	done
	sleep 1
	r1=$(rss_kb "${PID_OF[$t]}")
	stop_group "$pid"
	sleep 1
	awk -v a="$r0" -v b="$r1" -v n="$IDLE" 'BEGIN { printf "%.1f", (b - a) / n }'
}
declare -A IDL
printf '# idle connections (%d each), each on a freshly started target: KB per connection, RSS delta of the process tree / N\n' "$IDLE"
printf 'target\trss_fresh_MB\th1_tls\th2\th1_tls_again\th2_again\n'
for t in "${TARGETS[@]}"; do
	f=$(rss_kb "${PID_OF[$t]}")
	for k in h1 h2 h1b h2b; do
		restart_target "$t"
		IDL[$t,$k]=$(idle "$t" "${k%b}")
	done
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$(awk -v k="$f" 'BEGIN { printf "%.1f", k / 1024 }')" \
	    "${IDL[$t,h1]}" "${IDL[$t,h2]}" "${IDL[$t,h1b]}" "${IDL[$t,h2b]}"
done

# ---- load rounds -----------------------------------------------------------
load() { # target secs outfile
	h2load -t"$THREADS" -c64 -m10 -D"$2" "https://127.0.0.1:${PORT[$1]}/" >"$3" 2>&1 || true
}
for t in "${TARGETS[@]}"; do load "$t" 2 "$TMP/warm.$t.txt"; done
declare -A RPS CPU
printf '# h2load -t%s -c64 -m10 -D%s, interleaved\n' "$THREADS" "$SECS"
printf 'round\ttarget\trps\tcpu_us/req\tsucceeded\tfailed\tproto\n'
for r in $(seq 1 "$ROUNDS"); do
	for t in "${TARGETS[@]}"; do
		out=$TMP/round.$r.$t.txt
		c0=$(cpu_ticks "${PID_OF[$t]}")
		load "$t" "$SECS" "$out"
		c1=$(cpu_ticks "${PID_OF[$t]}")
		ok=$(awk '/^requests:/ { print $8 }' "$out")
		bad=$(awk '/^requests:/ { print $10 }' "$out")
		RPS[$t,$r]=$(awk '/^finished in/ { print $4 }' "$out")
		CPU[$t,$r]=$(us_per $((c1 - c0)) "${ok:-0}")
		proto=$(awk '/^Application protocol:/ { print $3 }' "$out")
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$t" "${RPS[$t,$r]:-NA}" "${CPU[$t,$r]}" \
		    "${ok:-NA}" "${bad:-NA}" "${proto:-NA}"
	done
done
echo "# uptime after:  $(uptime)"

median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END {
	if (NR == 0) { print "NA"; exit }
	if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b != "NA") printf "%.3f", b / a; else print "NA" }'; }
declare -A MR MC
for t in "${TARGETS[@]}"; do
	l1="" l2=""
	for r in $(seq 1 "$ROUNDS"); do l1+=" ${RPS[$t,$r]:-}"; l2+=" ${CPU[$t,$r]:-}"; done
	MR[$t]=$(echo "$l1" | median) MC[$t]=$(echo "$l2" | median)
	echo "median $t: rps=${MR[$t]} cpu_us/req=${MC[$t]}"
done
for p in nginx haproxy; do
	pr=""
	for r in $(seq 1 "$ROUNDS"); do pr+=" $(ratio "${RPS[$p,$r]:-0}" "${RPS[vibewarden,$r]:-NA}")"; done
	echo "vibewarden/$p: rps=$(ratio "${MR[$p]}" "${MR[vibewarden]}") (rounds:$pr) cpu_us/req=$(ratio "${MC[$p]}" "${MC[vibewarden]}")"
done
for t in "${TARGETS[@]}"; do
	echo "idle $t: h2 / h1_tls KB per connection = $(ratio "${IDL[$t,h1]}" "${IDL[$t,h2]}") (first pair), $(ratio "${IDL[$t,h1b]}" "${IDL[$t,h2b]}") (second pair)"
done
