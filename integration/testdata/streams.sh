#!/bin/bash
# Streams: a blocked cat ends on a signal; a late reader gets the output
# from the start; EOF when the process exits. usage: streams.sh MNT
set -euo pipefail
MNT=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { [ "$2" == "$3" ] || fail "$1: got '$2', want '$3'"; }
cd "$MNT/nodes/any"
mkdir talk
echo busybox > talk/image
echo 'sh -c "echo first; sleep 3; echo second; exec sleep 1000"' > talk/cmd
echo start > talk/ctl
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cat talk/stdout > "$TMP/early" &
early=$!
sleep 4
# the late reader still gets everything from the start
cat talk/stdout > "$TMP/late" &
late=$!
sleep 1
expect "late reader" "$(cat "$TMP/late")" "first
second"
# both are blocked on a silent process; SIGTERM ends them promptly
t0=$(date +%s%N)
kill -TERM $early $late
wait $early || true
wait $late || true
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ $ms -lt 1000 ] || fail "blocked readers took ${ms}ms to end"
expect "early reader" "$(cat "$TMP/early")" "first
second"
# timeout -s INT interrupts a foreground reader (Ctrl-C's signal)
t0=$(date +%s%N)
rc=0; timeout -s INT 0.5 cat talk/stdout > /dev/null || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ $rc -ne 0 ] && [ $ms -lt 1500 ] || fail "SIGINT: rc $rc after ${ms}ms"
# a process's streams
echo 'run sh -c "echo out; echo err >&2; exit 3"' > talk/ctl
expect "proc stderr" "$(timeout 5 cat talk/procs/last/stderr)" "err"
expect "proc wait" "$(cat talk/procs/last/wait)" "3"
# EOF once the process exits
echo stop > talk/ctl
expect "wait" "$(cat talk/wait)" "137"
expect "stdout after exit" "$(timeout 5 cat talk/stdout)" "first
second"
must_fail_run() { if bash -c "echo 'run true' > talk/ctl" 2>/dev/null; then fail "run after exit succeeded"; fi; }
must_fail_run
grep -q "no running task" talk/error || fail "error after run: $(cat talk/error)"
rmdir talk
echo OK
