#!/bin/bash
# The mount never makes one operation wait for another's network call:
# stat and ls -l of a file (and its directory) answer while a cp into it
# is uploading, and ls images/ while an image is being imported. Also: a
# pre-boot file can be written again after start. usage: mount_busy.sh MNT TAR
set -euo pipefail
MNT=$1 TAR=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { [ "$2" == "$3" ] || fail "$1: got '$2', want '$3'"; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$MNT/nodes/any"
mkdir busy
echo busybox > busy/image
echo 'sleep 1000' > busy/cmd

# a pre-boot file is the container's file after start: it can be written
echo x > busy/files/tmp/x
echo start > busy/ctl
echo again > busy/files/tmp/x || fail "writing a pre-boot file after start: $(cat busy/error)"
expect "pre-boot file rewritten" "$(cat busy/files/tmp/x)" "again"
echo 'run cat /tmp/x' > busy/ctl
expect "in the container" "$(cat busy/procs/last/stdout)" "again"
echo more >> busy/files/tmp/x
expect "appended" "$(cat busy/files/tmp/x)" "again
more"

# in_close PID: the process is in close(2) (x86-64: 3; arm64: 57), where
# a FUSE flush, and so the upload, happens.
in_close() {
	local s
	s=$(cut -d' ' -f1 "/proc/$1/syscall" 2>/dev/null) || return 1
	[ "$s" == 3 ] || [ "$s" == 57 ]
}
# wait_close PID: until the process is in close(2) or gone (bounded).
wait_close() {
	for _ in $(seq 6000); do
		in_close "$1" && return 0
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.01
	done
	fail "cp neither closed nor ended"
}

head -c 200000000 /dev/urandom > "$TMP/big"
cp "$TMP/big" busy/files/tmp/big &
cp_pid=$!
wait_close $cp_pid
during=no; in_close $cp_pid && during=yes
# generous hang bounds: these must come back, not wait for the upload
timeout 60 stat -c %s busy/files/tmp/big > "$TMP/size" || fail "stat hung during the upload"
timeout 60 ls -l busy/files/tmp > /dev/null || fail "ls -l of the directory hung during the upload"
timeout 60 ls -l busy/files/tmp/big > /dev/null || fail "ls -l of the file hung during the upload"
after=no; kill -0 $cp_pid 2>/dev/null && after=yes
echo "files/: cp in close when stat started: $during; cp still running after stat and ls: $after"
wait $cp_pid || fail "cp into files/ failed"
[ "$during" == no ] || expect "size during the upload" "$(cat "$TMP/size")" 200000000
echo 'run md5sum /tmp/big' > busy/ctl
expect "uploaded file" "$(cut -d' ' -f1 busy/procs/last/stdout)" "$(md5sum < "$TMP/big" | cut -d' ' -f1)"

# an image import (in the flush of close) does not hold up ls images/
cp "$TAR" "$MNT/images/busy.tar" &
cp_pid=$!
wait_close $cp_pid
during=no; in_close $cp_pid && during=yes
timeout 60 ls -l "$MNT/images" > /dev/null || fail "ls images/ hung during an import"
after=no; kill -0 $cp_pid 2>/dev/null && after=yes
echo "images/: cp in close when ls started: $during; cp still running after ls: $after"
wait $cp_pid || fail "image import failed"
ls "$MNT/images" | grep -qx 'imported%3Av2' || fail "images/: $(ls "$MNT/images")"

rmdir busy
echo OK
