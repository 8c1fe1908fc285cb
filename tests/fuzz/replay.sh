#!/bin/sh
# replay.sh: make check driver; replays the http_parse fuzz corpus through
# the fuzz target without libFuzzer.  Needs top_srcdir and top_builddir.
: "${top_srcdir:=.}"
: "${top_builddir:=.}"
"$top_builddir/tests/fuzz/replay_http_parse" \
    "$top_srcdir/tests/fuzz/corpus/http_parse" || exit 1
"$top_builddir/tests/fuzz/replay_admin_json" \
    "$top_srcdir/tests/fuzz/corpus/admin_json"
exit $?
