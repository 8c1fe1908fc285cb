#!/bin/sh
# replay.sh: make check driver; replays the http_parse and waf fuzz corpora
# through the fuzz targets without libFuzzer.  Needs top_srcdir and top_builddir.
: "${top_srcdir:=.}"
: "${top_builddir:=.}"
"$top_builddir/tests/fuzz/replay_http_parse" \
    "$top_srcdir/tests/fuzz/corpus/http_parse" || exit $?
"$top_builddir/tests/fuzz/replay_waf" "$top_srcdir/tests/fuzz/corpus/waf"
exit $?
