#!/bin/sh
# Integration tests for make check: the real vibewarden binary against a
# real local upstream (tests/integ/upstream.py).  Environment: VW_BIN (the
# binary), top_srcdir.  Exit 77 (skipped) without python3, or with
# VW_SKIP_INTEG set (.ci/run's distcheck: the suites ran twice before).
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
rc=0
for t in test_proxy test_core test_ops test_ratelimit test_tls test_resil \
    test_stages test_stages2 test_auth test_attack_auth test_kratos \
    test_attack_kratos test_acme test_attack_acme test_waf test_attack_waf \
    test_order test_admin test_modsec test_h2; do
	python3 "$srcdir/tests/integ/$t.py" || rc=1
done
exit $rc
