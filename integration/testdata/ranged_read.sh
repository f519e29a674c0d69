#!/bin/bash
# Reads at an offset fetch from there; a reader that stops early stops the
# transfer. The test around it counts what the node sent for each phase.
# usage: ranged_read.sh MNT setup|tail|head|cat|dd|cleanup
set -euo pipefail
MNT=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { [ "$2" == "$3" ] || fail "$1: got '$2', want '$3'"; }
cd "$MNT/nodes/any"
F=ranged/files/tmp/r
case $2 in
setup)
	mkdir ranged
	echo busybox > ranged/image
	echo 'sleep 1000' > ranged/cmd
	echo start > ranged/ctl
	echo 'run sh -c "head -c 104857600 /dev/urandom > /tmp/r"' > ranged/ctl
	expect "made in the container" "$(cat ranged/procs/last/wait)" 0
	expect "size" "$(stat -c %s $F)" 104857600
	;;
tail)
	sum=$(echo 'run sh -c "tail -c 100 /tmp/r | md5sum"' > ranged/ctl; cat ranged/procs/last/stdout)
	expect "tail -c 100" "$(timeout 60 tail -c 100 $F | md5sum)" "$sum"
	;;
head)
	sum=$(echo 'run sh -c "head -c 100 /tmp/r | md5sum"' > ranged/ctl; cat ranged/procs/last/stdout)
	expect "head -c 100" "$(timeout 60 head -c 100 $F | md5sum)" "$sum"
	;;
cat)
	sum=$(echo 'run md5sum /tmp/r' > ranged/ctl; cut -d' ' -f1 ranged/procs/last/stdout)
	expect "cat" "$(timeout 120 cat $F | md5sum | cut -d' ' -f1)" "$sum"
	;;
dd)
	# dd reading 3 MiB from the middle, sequentially
	sum=$(echo 'run sh -c "dd if=/tmp/r bs=1M skip=50 count=3 2>/dev/null | md5sum"' > ranged/ctl; cat ranged/procs/last/stdout)
	expect "dd skip" "$(timeout 60 dd if=$F bs=1M skip=50 count=3 iflag=fullblock 2>/dev/null | md5sum)" "$sum"
	;;
cleanup)
	rmdir ranged
	;;
esac
echo OK
