#!/bin/sh
# replay.sh: make check driver; replays the fuzz corpora (http_parse,
# origin) through their fuzz targets without libFuzzer.  Needs top_srcdir
# and top_builddir.
: "${top_srcdir:=.}"
: "${top_builddir:=.}"
"$top_builddir/tests/fuzz/replay_http_parse" \
    "$top_srcdir/tests/fuzz/corpus/http_parse" || exit $?
"$top_builddir/tests/fuzz/replay_origin" \
    "$top_srcdir/tests/fuzz/corpus/origin" || exit $?
"$top_builddir/tests/fuzz/replay_admin_json" \
    "$top_srcdir/tests/fuzz/corpus/admin_json"
exit $?
