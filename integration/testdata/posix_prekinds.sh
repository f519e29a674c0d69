#!/bin/bash
# Before start, symlinks, hard links (to a pre-boot file and to an image
# file), FIFOs and sockets made in files/ are kept and made in the
# container as its own files at start; devices, links to directories or
# out of files/ and names past NAME_MAX fail as on a local disk; xattrs
# are not supported (EOPNOTSUPP) before and after start, anywhere.
# usage: posix_prekinds.sh MNT
set -euo pipefail
MNT=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { [ "$2" == "$3" ] || fail "$1: got '$2', want '$3'"; }
TMP=$(mktemp -d)
C=$MNT/nodes/any/prekinds
C2=$MNT/nodes/any/prekinds2
trap 'rm -rf "$TMP"; rmdir "$C2" 2>/dev/null || true' EXIT
mkdir "$C" "$C2"
echo busybox > "$C/image"
echo busybox > "$C2/image"
echo 'sleep 100000' > "$C/cmd"
F=$C/files
run() {
	echo "run $*" > "$C/ctl"
	[ "$(cat "$C/procs/last/wait")" == 0 ] || fail "in the container: $*: $(cat "$C/procs/last/stderr")"
	cat "$C/procs/last/stdout"
}
# errno CODE: the errno name the python statement CODE fails with (OK when it does not)
errno() {
	python3 -c 'import errno, os, socket, sys
try:
    exec(sys.argv[1])
    print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])' "$1"
}
xattrs() { # xattrs PATH: what getxattr, setxattr, listxattr, removexattr give
	for c in 'os.getxattr(P, "user.x")' 'os.setxattr(P, "user.x", b"1")' 'os.listxattr(P)' 'os.removexattr(P, "user.x")'; do
		errno "P = \"$1\"; $c"
	done | tr '\n' ' '
}
# EOPNOTSUPP: on Linux the same errno (95) as ENOTSUP, the name python gives it
NOTSUP="ENOTSUP ENOTSUP ENOTSUP ENOTSUP "

umask 022
mkdir "$F/k"
echo data > "$F/k/file"
ln -s file "$F/k/sym"
ln -s /etc/hostname "$F/k/abs"
ln "$F/k/file" "$F/k/hard"
ln "$F/etc/passwd" "$F/k/passwd"
mkfifo -m 640 "$F/k/fifo"
(umask 027 && mkfifo "$F/k/fifo2")
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$F/k/sock"
expect "kinds before start" "$(cd "$F/k" && stat -c '%n %F %a %h' file hard passwd sym fifo fifo2 sock)" "file regular file 644 2
hard regular file 644 2
passwd regular file 644 2
sym symbolic link 777 1
fifo fifo 640 1
fifo2 fifo 640 1
sock socket 755 1"
expect "image file's links before start" "$(stat -c %h "$F/etc/passwd")" "2"
expect "readlink before start" "$(readlink "$F/k/sym")" "file"
expect "absolute symlink shown inside files/" "$(readlink "$F/k/abs")" "../etc/hostname"
expect "read through a symlink before start" "$(cat "$F/k/sym")" "data"
expect "read through a hard link" "$(cat "$F/k/hard")" "data"
echo more >> "$F/k/hard"
expect "write through a hard link" "$(cat "$F/k/file")" "data
more"
expect "ls -l before start" "$(ls -l "$F/k" | awk 'NR>1 {print substr($1,1,1), $2, $9}' | sort -k3)" "l 1 abs
p 1 fifo
p 1 fifo2
- 2 file
- 2 hard
- 2 passwd
s 1 sock
l 1 sym"
# renames and removes before start
ln -s gone "$F/k/tmplink" && mv "$F/k/tmplink" "$F/k/tmplink2" && rm "$F/k/tmplink2"
mkfifo "$F/k/f3" && mv "$F/k/f3" "$F/k/f4" && rm "$F/k/f4"
ln "$F/k/file" "$F/k/h2" && mv "$F/k/h2" "$F/k/h3"
expect "links after a rename" "$(stat -c %h "$F/k/file")" "3"
rm "$F/k/h3"
expect "links after a remove" "$(stat -c %h "$F/k/file")" "2"
mv "$F/k/sym" "$F/k/sym2"
expect "renamed symlink" "$(readlink "$F/k/sym2")" "file"
ln -P "$F/k/sym2" "$F/k/symh"
ln "$F/k/fifo" "$F/k/fifoh"
expect "hard links to a symlink and a FIFO" "$(cd "$F/k" && stat -c '%n %F %h' sym2 symh fifo fifoh)" "sym2 symbolic link 2
symh symbolic link 2
fifo fifo 2
fifoh fifo 2"
[ ! -e "$F/k/tmplink2" ] && [ ! -e "$F/k/f4" ] && [ ! -e "$F/k/sym" ] || fail "a removed or renamed name is still there"
echo new > "$F/k/new"
expect "rename onto an image file linked before start" "$(errno "os.rename(\"$F/k/new\", \"$F/etc/passwd\")")" "EBUSY"
rm "$F/k/new"
# what a local filesystem refuses
expect "mknod of a device" "$(errno "os.mknod(\"$F/k/dev\", 0o600 | 0o020000, os.makedev(1, 3))")" "EPERM"
expect "link to a directory" "$(errno "os.link(\"$F/k\", \"$F/kd\")")" "EPERM"
expect "link out of files/" "$(errno "os.link(\"$F/k/file\", \"$TMP/x\")")" "EXDEV"
expect "link into another container" "$(errno "os.link(\"$F/k/file\", \"$C2/files/x\")")" "EXDEV"
expect "link onto a name taken" "$(errno "os.link(\"$F/k/file\", \"$F/etc/group\")")" "EEXIST"
long=$(printf 'a%.0s' $(seq 256))
expect "symlink, 256-byte name" "$(errno "os.symlink(\"x\", \"$F/k/$long\")")" "ENAMETOOLONG"
expect "link, 256-byte name" "$(errno "os.link(\"$F/k/file\", \"$F/k/$long\")")" "ENAMETOOLONG"
expect "mkfifo, 256-byte name" "$(errno "os.mkfifo(\"$F/k/$long\")")" "ENAMETOOLONG"
expect "mkdir, 256-byte name" "$(errno "os.mkdir(\"$F/k/$long\")")" "ENAMETOOLONG"
expect "create, 256-byte name" "$(errno "open(\"$F/k/$long\", \"w\")")" "ENAMETOOLONG"
# xattrs are not supported: never a silent success
for p in "$F/k/file" "$F/k" "$F/etc/passwd" "$C/cmd" "$MNT/nodes"; do
	expect "xattrs on $p before start" "$(xattrs "$p")" "$NOTSUP"
done
mkdir -p "$TMP/src/d" && echo x > "$TMP/src/d/f" && ln -s f "$TMP/src/d/l" && mkfifo "$TMP/src/d/p"
cp -a "$TMP/src/d" "$F/cpa" || fail "cp -a before start"
rsync -a "$TMP/src/d/" "$F/rsynca/" || fail "rsync -a before start"
expect "cp -a and rsync -a before start" "$(cd "$F" && stat -c '%n %F' cpa/f cpa/l cpa/p rsynca/f rsynca/l rsynca/p)" "cpa/f regular file
cpa/l symbolic link
cpa/p fifo
rsynca/f regular file
rsynca/l symbolic link
rsynca/p fifo"

exec 3<"$F/k/file" # read after start: the spool is gone, the container's file is read
echo start > "$C/ctl"
expect "status" "$(cat "$C/status")" "running"
expect "kinds in the container" "$(run "stat -c '%n %F %a %h' /k/file /k/hard /k/passwd /k/sym2 /k/abs /k/fifo /k/fifo2 /k/sock")" "/k/file regular file 644 2
/k/hard regular file 644 2
/k/passwd regular file 644 2
/k/sym2 symbolic link 777 2
/k/abs symbolic link 777 1
/k/fifo fifo 640 2
/k/fifo2 fifo 640 1
/k/sock socket 755 1"
expect "one inode for a hard link" "$(run "stat -c %i /k/file /k/hard" | uniq | wc -l)" "1"
expect "one inode for a link to a symlink" "$(run "stat -c %i /k/sym2 /k/symh" | uniq | wc -l)" "1"
expect "one inode for a link to a FIFO" "$(run "stat -c '%i %h' /k/fifo /k/fifoh" | uniq)" "$(run "stat -c '%i %h' /k/fifo")"
expect "one inode for a link to the image" "$(run "stat -c %i /etc/passwd /k/passwd" | uniq | wc -l)" "1"
expect "symlink target in the container" "$(run readlink /k/sym2)" "file"
expect "absolute symlink target in the container" "$(run readlink /k/abs)" "/etc/hostname"
expect "bytes in the container" "$(run cat /k/hard)" "data
more"
expect "read through a handle opened before start" "$(cat <&3)" "data
more"
exec 3<&-
expect "removed names in the container" "$(run ls /k)" "abs
fifo
fifo2
fifoh
file
hard
passwd
sock
sym2
symh"
expect "copied trees in the container" "$(run "stat -c '%n %F' /cpa/l /cpa/p /rsynca/l /rsynca/p")" "/cpa/l symbolic link
/cpa/p fifo
/rsynca/l symbolic link
/rsynca/p fifo"
expect "kinds through files/ after start" "$(cd "$F/k" && stat -c '%n %F %a %h' file hard passwd sym2 fifo sock)" "file regular file 644 2
hard regular file 644 2
passwd regular file 644 2
sym2 symbolic link 777 2
fifo fifo 640 2
sock socket 755 1"
expect "readlink after start" "$(readlink "$F/k/sym2")" "file"
for p in "$F/k/file" "$F/k" "$F/etc/passwd" "$C/cmd"; do
	expect "xattrs on $p after start" "$(xattrs "$p")" "$NOTSUP"
done
echo destroy > "$C/ctl"
rmdir "$C"
echo OK
