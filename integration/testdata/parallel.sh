#!/bin/bash
# N containers made and started in parallel. usage: parallel.sh MNT N
set -euo pipefail
MNT=$1 N=$2
cd "$MNT/nodes/any"
one() {
	mkdir "par$1"
	echo busybox > "par$1/image"
	echo 'sleep 1000' > "par$1/cmd"
	echo start > "par$1/ctl"
}
pids=()
for i in $(seq 1 "$N"); do one "$i" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || { echo "FAIL: a job failed" >&2; exit 1; }; done
for i in $(seq 1 "$N"); do
	[ "$(cat "par$i/status")" == running ] || { echo "FAIL: par$i is $(cat "par$i/status")" >&2; exit 1; }
done
[ "$(ls "$MNT/containers" | wc -l)" == "$N" ] || { echo "FAIL: containers/: $(ls "$MNT/containers")" >&2; exit 1; }
pids=()
for i in $(seq 1 "$N"); do rmdir "par$i" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || { echo "FAIL: an rmdir failed" >&2; exit 1; }; done
[ "$(ls "$MNT/containers" | wc -l)" == 0 ] || { echo "FAIL: left: $(ls "$MNT/containers")" >&2; exit 1; }
echo OK
