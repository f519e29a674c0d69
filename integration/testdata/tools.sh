#!/bin/bash
# Everyday tools on a mount behave: ls -l, stat, find, grep -r, cp -r (in
# and out), mv and rm -r of trees, tail -f on a stream. usage: tools.sh MNT
set -euo pipefail
MNT=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { [ "$2" == "$3" ] || fail "$1: got '$2', want '$3'"; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$MNT/nodes/any"
mkdir tools
echo busybox > tools/image
echo "sh -c 'for i in 1 2 3 4 5 6; do echo tick \$i; sleep 0.3; done; exec sleep 1000'" > tools/cmd
echo start > tools/ctl

# tail -f follows the stream as it grows. (GNU tail reads an empty file
# like a pipe, to its end, so it is started once there is output.)
for _ in $(seq 50); do [ -s tools/stdout ] && break; sleep 0.1; done
expect "tail -f" "$(timeout 10 tail -f tools/stdout | grep -m1 'tick 4')" "tick 4"

echo 'run sh -c "mkdir -p /data/a/b && echo needle > /data/a/b/f1 && echo hay > /data/a/f2 && chmod 640 /data/a/f2 && ln -s /data/a/f2 /data/lnk && touch -t 200109090146.40 /data/a/f2"' > tools/ctl
expect "setup in the container" "$(cat tools/procs/last/wait)" "0"

D=tools/files/data
expect "stat mode and size" "$(stat -c '%a %s %F' $D/a/f2)" "640 4 regular file"
expect "ls -l" "$(ls -l $D/a/f2 | cut -c1-10)" "-rw-r-----"
echo 'run stat -c %Y /data/a/f2' > tools/ctl
expect "mtime as the container sees it" "$(stat -c %Y $D/a/f2)" "$(cat tools/procs/last/stdout)"
expect "dir mode" "$(stat -c '%F' $D/a/b)" "directory"
expect "link" "$(stat -c '%F' $D/lnk)" "symbolic link"
expect "find -type f" "$(cd $D && find . -type f | sort | tr '\n' ' ')" "./a/b/f1 ./a/f2 "
expect "find -type l" "$(cd $D && find . -type l)" "./lnk"
expect "grep -r" "$(grep -r needle $D | sed "s|^$D/||")" "a/b/f1:needle"
ls -lR $D > "$TMP/lsR" || fail "ls -lR failed"
grep -q 'f1' "$TMP/lsR" || fail "ls -lR: $(cat "$TMP/lsR")"

# cp -r out of the container
cp -r $D "$TMP/out"
expect "cp -r out" "$(cat "$TMP/out/a/b/f1")" "needle"
[ -L "$TMP/out/lnk" ] || fail "cp -r did not keep the link a link"

# cp -r into the container, binary files included
mkdir -p "$TMP/in/x/y"
head -c 1000000 /dev/urandom > "$TMP/in/x/y/bin1"
head -c 70000 /dev/urandom > "$TMP/in/bin2"
echo text > "$TMP/in/x/t"
cp -r "$TMP/in" $D/in
echo 'run sh -c "cd /data/in && find . -type f | sort | xargs md5sum"' > tools/ctl
expect "cp -r in" "$(cat tools/procs/last/stdout)" "$(cd "$TMP/in" && find . -type f | sort | xargs md5sum)"

# mv and rm -r of a tree
mv $D/in $D/in2
[ ! -e $D/in ] || fail "mv left the source: $(ls -la $D/in 2>&1)"
[ -f $D/in2/x/t ] || fail "mv of a tree: $(ls -laR $D/in2 2>&1; echo "run ls -laR /data" > tools/ctl; cat tools/procs/last/stdout)"
rm -r $D/in2
[ ! -e $D/in2 ] || fail "rm -r left the tree"
echo 'run ls /data' > tools/ctl
expect "after rm -r" "$(cat tools/procs/last/stdout | tr '\n' ' ')" "a lnk "

# reboot keeps the container's files, reset goes back to the image's;
# wait and status follow the current boot
echo hello > $D/keep
echo stop > tools/ctl
expect "wait after stop" "$(cat tools/wait)" "137"
echo reboot > tools/ctl
expect "status after reboot" "$(cat tools/status)" "running"
expect "file kept by reboot" "$(cat $D/keep)" "hello"
sleep 0.5
expect "still running after the old boot's exit" "$(cat tools/status)" "running"
echo reset > tools/ctl
expect "status after reset" "$(cat tools/status)" "running"
[ ! -e $D ] || fail "reset kept /data: $(ls $D)"
echo stop > tools/ctl
expect "wait after the second stop" "$(cat tools/wait)" "137"
expect "status after the second stop" "$(cat tools/status)" "exited 137"
rmdir tools
echo OK
