#!/bin/sh
# replay_kratos.sh: make check driver; replays the Kratos response fuzz
# corpus through the fuzz target without libFuzzer.  Needs top_srcdir and
# top_builddir.
: "${top_srcdir:=.}"
: "${top_builddir:=.}"
"$top_builddir/tests/fuzz/replay_kratos" \
    "$top_srcdir/tests/fuzz/corpus/kratos"
exit $?
