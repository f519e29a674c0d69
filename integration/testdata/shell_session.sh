#!/bin/bash
# Drives DESIGN.md's shell session (minus the tunnel) on a tffs mount.
# usage: shell_session.sh MNT
set -euo pipefail
MNT=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { # expect WHAT GOT WANT
	[ "$2" == "$3" ] || fail "$1: got '$2', want '$3'"
}

grep -q 'nodes/any' "$MNT/README" || fail "README does not explain the tree"
grep -q '"Nodes"' "$MNT/resources.json" || fail "resources.json: $(cat "$MNT/resources.json")"
ls "$MNT/images" | grep -q '^busybox' || fail "images/: $(ls "$MNT/images")"

cd "$MNT/nodes/any"
mkdir web
expect "status of a new container" "$(cat web/status)" "new"
echo busybox > web/image
expect "image" "$(cat web/image)" "busybox"
expect "size of image" "$(stat -c %s web/image)" "8"
echo 'httpd -f -p 80 -h /www' > web/cmd
echo web-1 > web/tag
expect "tag" "$(cat web/tag)" "web-1"
expect "cmd" "$(cat web/cmd)" "httpd -f -p 80 -h /www"
# before start, files/ is the image's tree with pre-boot files laid over it
expect "image tree before start" "$(ls web/files | tr '\n' ' ')" "bin etc root tmp www "
grep -q '^root:' web/files/etc/passwd || fail "image file unreadable before start"
[ -L web/files/bin/sh ] || fail "bin/sh is not a link"
expect "image link target" "$(readlink web/files/bin/sh)" "busybox"
echo '<h1>hello</h1>' > web/files/www/index.html
expect "pre-boot file" "$(cat web/files/www/index.html)" "<h1>hello</h1>"
expect "pre-boot ls" "$(ls web/files/www)" "index.html"
echo 'tffs:x:1000:1000::/tmp:/bin/sh' >> web/files/etc/passwd
expect "appended to an image file" "$(head -1 web/files/etc/passwd | cut -d: -f1),$(tail -1 web/files/etc/passwd | cut -d: -f1)" "root,tffs"
mkdir web/files/tmp/sub
echo deep > web/files/tmp/sub/x
mkdir web/files/tmp/pd && echo p > web/files/tmp/pd/f && mv web/files/tmp/pd web/files/tmp/pd2
expect "pre-boot mv of a dir" "$(cat web/files/tmp/pd2/f)" "p"
[ ! -e web/files/tmp/pd ] || fail "pre-boot mv left the source"
if mkdir web/files/etc 2>/dev/null; then fail "mkdir over an image dir succeeded"; fi
if rm web/files/bin/busybox 2>/dev/null; then fail "rm of an image file before start succeeded"; fi
grep -q "after start" web/error || fail "error: $(cat web/error)"
echo start > web/ctl
expect "status after start" "$(cat web/status)" "running"

echo 'run ls /www' > web/ctl
expect "run ls /www" "$(cat web/procs/last/stdout)" "index.html"
expect "proc status" "$(cat web/procs/last/wait)" "0"
expect "proc exited" "$(cat web/procs/last/status)" "exited 0"

expect "live file" "$(cat web/files/www/index.html)" "<h1>hello</h1>"
expect "pre-boot dir made in an image dir" "$(cat web/files/tmp/sub/x)" "deep"
expect "pre-boot moved dir after start" "$(cat web/files/tmp/pd2/f)" "p"
expect "copied-up file after start" "$(grep -c . web/files/etc/passwd)" "$(($(grep -c . <(echo 'run cat /etc/passwd' > web/ctl; cat web/procs/last/stdout))))"
grep -q '^tffs:' web/files/etc/passwd || fail "appended line lost at start"
expect "live size" "$(stat -c %s web/files/www/index.html)" "15"

# cp a file in and out of files/
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
head -c 300000 /dev/urandom > "$TMP/blob"
cp "$TMP/blob" web/files/tmp/blob
expect "size after cp in" "$(stat -c %s web/files/tmp/blob)" "300000"
cp web/files/tmp/blob "$TMP/back"
cmp "$TMP/blob" "$TMP/back" || fail "cp out differs"
echo 'run md5sum /tmp/blob' > web/ctl
expect "md5 inside" "$(cut -d' ' -f1 < web/procs/last/stdout)" "$(md5sum < "$TMP/blob" | cut -d' ' -f1)"
mkdir web/files/tmp/d
mv web/files/tmp/blob web/files/tmp/d/blob2
expect "after mv" "$(ls web/files/tmp/d)" "blob2"
rm web/files/tmp/d/blob2
rmdir web/files/tmp/d
[ ! -e web/files/tmp/d ] || fail "rmdir in files/ left the dir"

# a process made by hand, with stdin
mkdir web/procs/p
echo 'sh -c "tr a-z A-Z"' > web/procs/p/cmd
echo start > web/procs/p/ctl
echo shout > web/procs/p/stdin
expect "stdin to stdout" "$(cat web/procs/p/stdout)" "SHOUT"
expect "proc wait" "$(cat web/procs/p/wait)" "0"

# the same directory under containers/ and the real node
expect "containers/" "$(ls "$MNT/containers")" "web"
expect "via containers/" "$(cat "$MNT/containers/web/status")" "running"
NODE=$(ls "$MNT/nodes" | grep -v '^any$' | head -1)
expect "via nodes/$NODE" "$(cat "$MNT/nodes/$NODE/web/image")" "busybox"

echo stop > web/ctl
expect "wait after stop" "$(cat web/wait)" "137"
expect "status after stop" "$(cat web/status)" "exited 137"
rmdir web
[ ! -e web ] || fail "rmdir left the container"
expect "containers/ after rmdir" "$(ls "$MNT/containers" | wc -l)" "0"
# events is a blocking stream: read it for a second
timeout -s TERM 1 cat "$MNT/events" > "$TMP/events" || true
grep -q '"event":"created"' "$TMP/events" || fail "events: $(cat "$TMP/events")"
grep -q '"event":"destroyed"' "$TMP/events" || fail "events: $(cat "$TMP/events")"
echo OK
