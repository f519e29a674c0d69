#!/bin/bash
# Pre-boot files of any size, streamed at start (never held in the mount's
# memory), modes and empty directories kept, a truncate before start sparse.
# usage: posix_preboot.sh MNT
set -euo pipefail
MNT=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { [ "$2" == "$3" ] || fail "$1: got '$2', want '$3'"; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
C=$MNT/nodes/any/preboot
mkdir "$C"
echo busybox > "$C/image"
echo 'sleep 100000' > "$C/cmd"
run() {
	echo "run $*" > "$C/ctl"
	[ "$(cat "$C/procs/last/wait")" == 0 ] || fail "in the container: $*: $(cat "$C/procs/last/stderr")"
	cat "$C/procs/last/stdout"
}
head -c 200000000 /dev/urandom > "$TMP/big"
want=$(sha256sum < "$TMP/big" | cut -d' ' -f1)
mkdir -p "$C/files/pre/empty" "$C/files/pre/sticky"
chmod 1750 "$C/files/pre/sticky"
cp "$TMP/big" "$C/files/pre/big"
expect "pre-boot size" "$(stat -c %s "$C/files/pre/big")" "200000000"
expect "pre-boot read back" "$(sha256sum < "$C/files/pre/big" | cut -d' ' -f1)" "$want"
echo '#!/bin/sh' > "$C/files/pre/tool"
chmod 4755 "$C/files/pre/tool"
chown 1000:1001 "$C/files/pre/tool"
chmod 4755 "$C/files/pre/tool" # chown clears setuid, as on a local disk
touch -d '2001-02-03 04:05:06' "$C/files/pre/tool"
chown 7:8 "$C/files/pre/empty"
touch -d '2002-01-01 00:00:00' "$C/files/pre/empty"
expect "pre-boot owner and mtime" "$(stat -c '%u %g %a %Y' "$C/files/pre/tool")" "1000 1001 4755 $(date -d '2001-02-03 04:05:06' +%s)"
truncate -s 100G "$C/files/pre/sparse"
echo tail | dd of="$C/files/pre/sparse" bs=1 seek=1000 conv=notrunc status=none
expect "sparse pre-boot size" "$(stat -c %s "$C/files/pre/sparse")" "107374182400"
echo start > "$C/ctl"
expect "status" "$(cat "$C/status")" "running"
expect "big file in the container" "$(run sha256sum /pre/big | cut -d' ' -f1)" "$want"
expect "modes in the container" "$(run "stat -c '%n %a %F' /pre/tool /pre/empty /pre/sticky")" "/pre/tool 4755 regular file
/pre/empty 755 directory
/pre/sticky 1750 directory"
expect "owners and times in the container" "$(run "stat -c '%n %u %g %Y' /pre/tool /pre/empty")" "/pre/tool 1000 1001 $(date -d '2001-02-03 04:05:06' +%s)
/pre/empty 7 8 $(date -d '2002-01-01 00:00:00' +%s)"
expect "sparse size in the container" "$(run stat -c %s /pre/sparse)" "107374182400"
blocks=$(run stat -c %b /pre/sparse)
[ "$blocks" -lt 1024 ] || fail "the 100G file is not sparse in the container: $blocks blocks"
expect "written part of the sparse file" "$(run dd if=/pre/sparse bs=1 skip=1000 count=4 2>/dev/null)" "tail"
echo destroy > "$C/ctl"
rmdir "$C"
echo OK
