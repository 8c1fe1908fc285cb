#!/bin/sh
# shellcheck disable=SC2317 # cleanup/stop_vw are invoked by traps
# Run the vibewarden demo: demo/upstream.py on 127.0.0.1:3000 in the
# background, vibewarden (path given as $1) on 127.0.0.1:8080.  Ctrl-C (or
# SIGTERM to this script) stops vibewarden gracefully, then the demo app.
set -u
if [ $# -lt 1 ]; then
	echo "usage: $0 /path/to/vibewarden" >&2
	exit 2
fi
vw=$1
demodir=$(cd "$(dirname "$0")" && pwd)

python3 "$demodir/upstream.py" 3000 &
app_pid=$!
vw_pid=
cleanup() {
	if [ -n "$vw_pid" ]; then
		kill -TERM "$vw_pid" 2>/dev/null
		wait "$vw_pid" 2>/dev/null
	fi
	kill "$app_pid" 2>/dev/null
	wait "$app_pid" 2>/dev/null
}
trap cleanup EXIT
stop_vw() {
	kill -TERM "$vw_pid" 2>/dev/null
}
trap stop_vw INT TERM

echo "demo: open http://127.0.0.1:8080/ (vibewarden -> demo app on :3000); Ctrl-C stops"
"$vw" -c "$demodir/demo.yaml" &
vw_pid=$!
# wait returns early when a trapped signal arrives; wait again for the exit.
status=0
while kill -0 "$vw_pid" 2>/dev/null; do
	wait "$vw_pid"
	status=$?
done
vw_pid=
exit "$status"
