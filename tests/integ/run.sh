#!/bin/bash
# Integration tests for make check: the real vibewarden binary against a
# real local upstream (tests/integ/upstream.py).  Environment: VW_BIN (the
# binary), top_srcdir, VW_INTEG_JOBS (suites run at once, default 3).
# Exit 77 (skipped) without python3, or with VW_SKIP_INTEG set (.ci/run's
# distcheck: the suites ran twice before).
#
# The suites wait on timeouts far more than they compute, so several run
# at once, each in its own slot; a slot owns a range of loopback ports
# (VW_PORT_BASE, vwtest.free_port()), so suites never pick each other's.
# A suite's output is printed whole when it ends.
if [ -n "${VW_SKIP_INTEG:-}" ]; then
	echo "run.sh: VW_SKIP_INTEG set, skipping integration tests"
	exit 77
fi
if ! command -v python3 >/dev/null 2>&1; then
	echo "run.sh: python3 not found, skipping integration tests"
	exit 77
fi
srcdir=${top_srcdir:-$(dirname "$0")/../..}
VW_BIN=${VW_BIN:-./vibewarden}
PYTHONDONTWRITEBYTECODE=1
export VW_BIN PYTHONDONTWRITEBYTECODE
njobs=${VW_INTEG_JOBS:-3}

# Longest first, so the slots end at about the same time.
suites="test_proxy test_tls test_core test_acme test_ops test_auth
test_attack_acme test_attack_kratos test_stages test_ratelimit test_resil
test_h2 test_modsec test_stages2 test_kratos test_admin test_attack_auth
test_waf test_attack_waf test_order test_attack_admin test_attack_h2"

out=$(mktemp -d "${TMPDIR:-/tmp}/vw-integ.XXXXXX")
trap 'rm -rf "$out"' EXIT
declare -A slot_of name_of
read -r -a free_slots <<<"$(seq 0 $((njobs - 1)) | tr '\n' ' ')"
running=0
rc=0

# Wait for one suite, print its output, give its slot back.
reap()
{
	local pid st
	wait -n -p pid
	st=$?
	echo "===== ${name_of[$pid]} (status $st)"
	cat "$out/${name_of[$pid]}.log"
	[ "$st" -eq 0 ] || rc=1
	free_slots+=("${slot_of[$pid]}")
	running=$((running - 1))
}

for t in $suites; do
	[ "$running" -lt "$njobs" ] || reap
	slot=${free_slots[0]}
	free_slots=("${free_slots[@]:1}")
	VW_PORT_BASE=$((20000 + slot * 2000)) \
	    python3 "$srcdir/tests/integ/$t.py" >"$out/$t.log" 2>&1 &
	slot_of[$!]=$slot
	name_of[$!]=$t
	running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
	reap
done
exit $rc
