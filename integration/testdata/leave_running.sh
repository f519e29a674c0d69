#!/bin/bash
# Leaves two running containers, for the unmount test.
set -euo pipefail
cd "$1/nodes/any"
for n in keep1 keep2; do
	mkdir $n
	echo busybox > $n/image
	echo 'sleep 1000' > $n/cmd
	echo start > $n/ctl
	[ "$(cat $n/status)" == running ] || { echo "FAIL: $n not running" >&2; exit 1; }
done
echo OK
