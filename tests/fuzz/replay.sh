#!/bin/sh
# replay.sh: make check driver; replays every fuzz corpus
# (tests/fuzz/corpus/NAME) through its fuzz target without libFuzzer
# (tests/fuzz/replay_NAME).  Needs top_srcdir and top_builddir.
: "${top_srcdir:=.}"
: "${top_builddir:=.}"
for name in http_parse origin webhook jwt kratos acme_json waf h2head; do
	"$top_builddir/tests/fuzz/replay_$name" \
	    "$top_srcdir/tests/fuzz/corpus/$name" || exit $?
done
