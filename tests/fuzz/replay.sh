#!/bin/sh
# replay.sh: make check driver; replays every fuzz corpus
# (tests/fuzz/corpus/NAME) through its fuzz target without libFuzzer
# (tests/fuzz/replay_NAME).  Needs top_srcdir and top_builddir.
: "${top_srcdir:=.}"
: "${top_builddir:=.}"
for name in http_parse origin webhook jwt kratos acme_json waf admin_json \
    h2head; do
	"$top_builddir/tests/fuzz/replay_$name" \
	    "$top_srcdir/tests/fuzz/corpus/$name" || exit $?
done
# Only in a build with libmodsecurity (configure --with-modsecurity).
if [ -x "$top_builddir/tests/fuzz/replay_modsec_msg" ]; then
	"$top_builddir/tests/fuzz/replay_modsec_msg" \
	    "$top_srcdir/tests/fuzz/corpus/modsec_msg" || exit $?
else
	echo "replay.sh: no libmodsecurity in this build, modsec_msg skipped"
fi
