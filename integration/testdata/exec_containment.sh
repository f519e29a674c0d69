#!/bin/bash
# A process started with `run` on a running container is inside it: it
# sees the image's root, the container's main process as its PID 1 and
# the container's network namespace. usage: exec_containment.sh MNT
set -euo pipefail
MNT=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { [ "$2" == "$3" ] || fail "$1: got '$2', want '$3'"; }
cd "$MNT/nodes/any"
mkdir contain
echo busybox > contain/image
echo 'sleep 1000' > contain/cmd
echo start > contain/ctl
expect "status" "$(cat contain/status)" "running"

echo 'run ls /' > contain/ctl
expect "run ls /: exit" "$(cat contain/procs/last/wait)" "0"
expect "run ls /: the image's root" "$(cat contain/procs/last/stdout | tr '\n' ' ')" "bin dev etc proc root run sys tmp www "

echo 'run cat /proc/1/cmdline' > contain/ctl
expect "run cat /proc/1/cmdline" "$(tr '\0' ' ' < contain/procs/last/stdout)" "sleep 1000 "

echo 'run readlink /proc/1/ns/net' > contain/ctl
main=$(cat contain/procs/last/stdout)
echo 'run readlink /proc/self/ns/net' > contain/ctl
expect "run's network namespace" "$(cat contain/procs/last/stdout)" "$main"
[ "$main" != "$(readlink /proc/self/ns/net)" ] || fail "the container's network namespace is the client's: $main"
echo stop > contain/ctl
rmdir contain
echo OK
