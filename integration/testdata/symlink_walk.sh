#!/bin/bash
# Walks a container's files/ full of random symlinks the way a user would
# (realpath, readlink -f, stat, cat, cp -r, find -L): nothing may resolve
# outside files/, no output may hold the client's canary secret, and writes
# through every link land in the container.
# usage: symlink_walk.sh MNT GEN CANARY_DIR SECRET
# (GEN: a script that builds the links under /r; the container runs it,
# then sleeps, so files/ is the running container's root)
set -euo pipefail
MNT=$1 GEN=$2 CANARY_DIR=$3 SECRET=$4
fail() { echo "FAIL: $*" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$MNT/nodes/any"
C=walk
mkdir $C
echo busybox > $C/image
cp "$GEN" $C/files/gen.sh
echo start asleep > $C/ctl
echo "run sh /gen.sh" > $C/ctl
code=$(cat $C/procs/last/wait)
[ "$code" == 0 ] || fail "gen.sh exited $code: $(cat $C/procs/last/stderr)"
F=$C/files
FR=$(realpath $F)
inside() { case "$1" in "$FR" | "$FR"/*) ;; *) fail "$2: $3 leads to $1, outside $FR" ;; esac }
nosecret() { if grep -qs "$SECRET" "$1"; then fail "$2 read the client's canary"; fi }

# Every entry under /r, and the links at /.
{ find $F/r; find $F -maxdepth 1 -type l; } > $TMP/entries
echo "$(wc -l < $TMP/entries) entries"
xargs -d '\n' realpath -m -- < $TMP/entries > $TMP/rp 2> /dev/null || true
xargs -d '\n' readlink -f -- < $TMP/entries >> $TMP/rp 2> /dev/null || true
while read -r rp; do inside "$rp" "an entry" "realpath -m or readlink -f"; done < $TMP/rp
grep -c . $TMP/rp > /dev/null || fail "realpath gave nothing"
while read -r p; do
	if [ -L "$p" ]; then
		case "$(readlink "$p")" in /*) fail "$p shows an absolute target" ;; esac
	fi
done < $TMP/entries
xargs -d '\n' stat -L -- < $TMP/entries > /dev/null 2>&1 || true
xargs -d '\n' cat -- < $TMP/entries > $TMP/cat 2> /dev/null || true
nosecret $TMP/cat "cat"

# find -L through the links (loops are reported, not followed; the
# busybox dirs a link to / reaches are skipped to keep the walk small).
find -L $F/r -maxdepth 4 \( -name bin -o -name proc -o -name sys -o -name dev \) -prune -o -print > $TMP/find 2> /dev/null || true
echo "find -L: $(wc -l < $TMP/find) paths"
xargs -d '\n' realpath -m -- < $TMP/find > $TMP/frp 2> /dev/null || true
while read -r rp; do inside "$rp" "a path find -L gave" "realpath -m"; done < $TMP/frp

# cp -r keeps links, and each copied link still leads inside the copy of
# files/; cp -L of each link to a file copies what the container holds.
mkdir $TMP/cp
cp -r $F/r $TMP/cp/r
find $TMP/cp -type l | while read -r l; do
	rp=$(realpath -m "$l") || continue
	case "$rp" in "$TMP/cp" | "$TMP/cp"/*) ;; *) fail "copied link $l leads to $rp" ;; esac
done
mkdir $TMP/cpL
i=0
find $F/r -type l | while read -r l; do
	i=$((i + 1))
	if [ -f "$l" ]; then cp -L "$l" $TMP/cpL/$i 2> /dev/null || true; fi
done
if grep -rqs "$SECRET" $TMP/cp $TMP/cpL; then fail "cp copied the client's canary"; fi

# Writes through every link (to what it leads to, if that can be written).
find $F/r -type l | while read -r l; do
	{ echo pwned >> "$l"; } 2> /dev/null || true
done
echo "run cat $CANARY_DIR/secret" > $C/ctl
echo "the container's canary copy: $(cat $C/procs/last/stdout | tr '\n' ' ')"
echo destroy > $C/ctl
echo OK
