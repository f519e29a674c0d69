#!/bin/bash
# What is made through files/ is what a process in the container sees, and
# a change made in the container shows through files/ within the stated
# bound (2 s: 1 s of kernel attribute cache + 1 s of the mount's stat
# cache). usage: posix_container.sh CTRDIR (a running busybox container)
set -euo pipefail
C=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { [ "$2" == "$3" ] || fail "$1: got '$2', want '$3'"; }
run() { # run a command in the container, print its output
	echo "run $*" > "$C/ctl"
	[ "$(cat "$C/procs/last/wait")" == 0 ] || fail "in the container: $*: $(cat "$C/procs/last/stderr")"
	cat "$C/procs/last/stdout"
}
D=$C/files/tmp/cs
mkdir "$D"
echo data > "$D/f"
chmod 4751 "$D/f"
chown 1000:1001 "$D/f"
chmod 4751 "$D/f" # chown clears setuid, as on a local disk
touch -h -d '2001-02-03 04:05:06' "$D/f"
ln "$D/f" "$D/hard"
ln -s f "$D/sym"
chown -h 1002:1003 "$D/sym"
mkfifo -m 640 "$D/fifo"
mkdir -m 1777 "$D/sticky"
FMT='%n %f %u %g %Y %h %s'
mine=$(cd "$D" && stat -c "$FMT" f hard sym fifo sticky | sed 's/^sticky \([0-9a-f]*\) \(.*\) [0-9]* [0-9]*$/sticky \1 \2/')
printf 'cd /tmp/cs && stat -c "%s" f hard sym fifo sticky\n' "$FMT" > "$C/files/tmp/cs.sh"
theirs=$(run sh /tmp/cs.sh | sed 's/^sticky \([0-9a-f]*\) \(.*\) [0-9]* [0-9]*$/sticky \1 \2/')
expect "stat through files/ and in the container" "$mine" "$theirs"
expect "link target in the container" "$(run readlink /tmp/cs/sym)" "f"
expect "FIFO in the container" "$(run stat -c %F /tmp/cs/fifo)" "fifo"
expect "mode in the container" "$(run "stat -c '%a %u %g' /tmp/cs/f")" "4751 1000 1001"
expect "mtime in the container" "$(run stat -c %Y /tmp/cs/f)" "$(date -d '2001-02-03 04:05:06' +%s)"

expect "statfs of files/ is the container's filesystem" "$(stat -f -c '%b %S %l' "$D")" "$(run "stat -f -c '%b %S %l' /tmp/cs")"

# changes in the container show through files/ within the bound
stat "$D/f" "$D/new" >/dev/null 2>&1 || true # cache what can be cached
echo 'chmod 600 /tmp/cs/f && chown 7:8 /tmp/cs/f && echo more >> /tmp/cs/f && echo x > /tmp/cs/new && touch -d "2002-01-01 00:00:00" /tmp/cs/f' > "$C/files/tmp/cs2.sh"
run sh /tmp/cs2.sh >/dev/null
sleep 2.5
expect "container's change seen" "$(stat -c '%a %u %g %s' "$D/f")" "600 7 8 10"
expect "container's mtime seen" "$(stat -c %Y "$D/f")" "$(date -d '2002-01-01 00:00:00' +%s)"
expect "container's new file seen" "$(cat "$D/new")" "x"
expect "container's write seen" "$(cat "$D/f")" "data
more"

# names the container makes and removes show within the bound too, though
# the directory was listed (known complete) and the name found missing
# (kept by the kernel) just before
ls "$D" >/dev/null
! stat "$D/late" >/dev/null 2>&1 || fail "late exists before it is made"
echo 'echo l > /tmp/cs/late && mkdir /tmp/cs/lated && rm /tmp/cs/new' > "$C/files/tmp/cs3.sh"
run sh /tmp/cs3.sh >/dev/null
sleep 2.5
expect "container's made file seen" "$(cat "$D/late")" "l"
[ -d "$D/lated" ] || fail "container's made directory not seen"
[ ! -e "$D/new" ] || fail "container's removed file still shows"
# removed through files/: gone at once, here and in the container
rm "$D/late"; rmdir "$D/lated"
[ ! -e "$D/late" ] && [ ! -e "$D/lated" ] || fail "removed through files/ still shows"
expect "removed through files/, in the container" "$(run ls /tmp/cs)" "$(printf 'f\nfifo\nhard\nsticky\nsym')"

# a reset gives the image's files back: nothing kept shows the old ones
stat "$D/f" "$D/sticky" >/dev/null
echo reset > "$C/ctl"
[ ! -e "$D/f" ] || fail "a reset's removed file still shows"
[ ! -e "$D" ] || fail "a reset's removed directory still shows"
echo OK
