#!/bin/bash
# Drives volumes/ on a tffs mount: mkdir creates, rmdir destroys (EBUSY
# while mounted), ctl snapshot/rollback, info.json, files/ (inside the
# volume only), and a container's volumes file.
# usage: volumes.sh MNT
set -euo pipefail
MNT=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { # expect WHAT GOT WANT
	[ "$2" == "$3" ] || fail "$1: got '$2', want '$3'"
}

cd "$MNT"
mkdir volumes/vol1
expect "ls volumes" "$(ls volumes)" "vol1"
timeout 20 grep -q -m1 '"event":"volume_created".*"volume":"vol1"\|"volume":"vol1".*"event":"volume_created"' events || fail "no volume_created event"
expect "ls a volume" "$(ls volumes/vol1 | tr '\n' ' ')" "ctl error files info.json "
if mkdir volumes/vol1 2>/dev/null; then fail "second mkdir of vol1 succeeded"; fi
if mkdir 'volumes/bad name' 2>/dev/null; then fail "mkdir of a bad volume name succeeded"; fi

# files/ reads and writes the volume
echo one > volumes/vol1/files/f
mkdir volumes/vol1/files/sub
echo deep > volumes/vol1/files/sub/g
expect "read back" "$(cat volumes/vol1/files/f)" "one"
expect "ls files" "$(ls volumes/vol1/files | tr '\n' ' ')" "f sub "

# a container mounts it through its volumes file
mkdir nodes/any/c1
echo busybox > nodes/any/c1/image
if echo 'vol1 data' > nodes/any/c1/volumes 2>/dev/null; then fail "a relative mount point was taken"; fi
echo 'vol1 /data' > nodes/any/c1/volumes
expect "volumes file" "$(cat nodes/any/c1/volumes)" "vol1 /data"
echo 'start asleep' > nodes/any/c1/ctl
echo 'run cat /data/f /data/sub/g' > nodes/any/c1/ctl
expect "container reads the volume" "$(cat nodes/any/c1/procs/last/stdout | tr '\n' ' ')" "one deep "
echo 'run sh -c "echo two > /data/f; ln -s / /data/root; ln -s ../../../.. /data/up"' > nodes/any/c1/ctl
cat nodes/any/c1/procs/last/wait >/dev/null
expect "container's write seen in files/" "$(cat volumes/vol1/files/f)" "two"
grep -q '"Mounts": \[' volumes/vol1/info.json || fail "info.json: $(cat volumes/vol1/info.json)"
grep -q '"c1"' volumes/vol1/info.json || fail "info.json lacks c1: $(cat volumes/vol1/info.json)"

# links in files/ never leave the volume (names the container made show
# through files/ within 2 s: files/ was listed just before)
sleep 2.5
[ ! -e volumes/vol1/files/root/etc/passwd ] || fail "files/root/etc/passwd reached the node's files"
expect "up leads to the volume's root" "$(ls volumes/vol1/files/up/ | tr '\n' ' ')" "f root sub up "

# busy while mounted
if rmdir volumes/vol1 2>/dev/null; then fail "rmdir of a mounted volume succeeded"; fi
if echo rollback > volumes/vol1/ctl 2>/dev/null; then fail "rollback of a mounted volume succeeded"; fi
grep -q 'mounted by' volumes/vol1/error || fail "error: $(cat volumes/vol1/error)"
echo snapshot > volumes/vol1/ctl
echo destroy > nodes/any/c1/ctl

# snapshot, change, rollback
echo three > volumes/vol1/files/f
rm volumes/vol1/files/sub/g
echo rollback > volumes/vol1/ctl
expect "after rollback" "$(cat volumes/vol1/files/f)" "two"
expect "after rollback, g" "$(cat volumes/vol1/files/sub/g)" "deep"
if echo frobnicate > volumes/vol1/ctl 2>/dev/null; then fail "an unknown ctl verb was taken"; fi

rmdir volumes/vol1
expect "ls volumes after rmdir" "$(ls volumes)" ""
timeout 20 grep -q -m1 '"event":"volume_destroyed"' events || fail "no volume_destroyed event"
echo OK
