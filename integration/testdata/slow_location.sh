#!/bin/bash
# The mount with an unreachable location: calls end with EIO after the
# mount's call timeout, Ctrl-C ends a blocked call at once, local files
# still answer, and the mount works again once the location is back.
# usage: slow_location.sh MNT start|cut|back
set -uo pipefail
MNT=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }
cd "$MNT/nodes/any" || fail "no mount"
case $2 in
start)
	mkdir slow && echo busybox > slow/image && echo 'sleep 1000' > slow/cmd && echo start > slow/ctl || fail "start"
	[ "$(cat slow/status)" == running ] || fail "status: $(cat slow/status)"
	ls slow/files/etc > /dev/null || fail "ls while the location is up"
	;;
cut)
	t0=$(ms)
	if err=$(ls slow/files/etc 2>&1); then fail "ls succeeded while the location is cut off"; fi
	t=$(( $(ms) - t0 ))
	echo "ls failed after ${t} ms: $err"
	echo "$err" | grep -q "Input/output error" || fail "want EIO, got: $err"
	[ $t -lt 20000 ] || fail "EIO took ${t} ms"
	t0=$(ms)
	timeout -s INT 1 cat slow/files/etc/passwd > /dev/null 2>&1 && fail "cat succeeded while cut off"
	t=$(( $(ms) - t0 ))
	echo "cat ended by SIGINT after ${t} ms"
	[ $t -lt 2500 ] || fail "SIGINT took ${t} ms to end a blocked read"
	[ "$(cat slow/status)" == running ] || fail "status: $(cat slow/status)"
	grep -q 'nodes/any' "$MNT/README" || fail "README unreadable while cut off"
	;;
back)
	for _ in $(seq 60); do
		ls slow/files/etc > /dev/null 2>&1 && break
		sleep 0.5
	done
	grep -q '^root:' slow/files/etc/passwd || fail "files/ did not come back"
	;;
esac
echo OK
