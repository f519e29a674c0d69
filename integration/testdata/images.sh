#!/bin/bash
# cp an image archive into images/; a file that is no archive is EINVAL.
# usage: images.sh MNT TAR (TAR holds the image "imported:v1")
set -euo pipefail
MNT=$1 TAR=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
cp "$TAR" "$MNT/images/"
ls "$MNT/images" | grep -qx 'imported%3Av1' || fail "images/: $(ls "$MNT/images")"
grep -q '"Name": "imported:v1"' "$MNT/images/imported%3Av1" || fail "description: $(cat "$MNT/images/imported%3Av1")"
JUNK=$(mktemp); trap 'rm -f "$JUNK"' EXIT
echo garbage > "$JUNK"
# cp reports the error of close(), where the import happens
if err=$(cp "$JUNK" "$MNT/images/junk.tar" 2>&1); then fail "garbage import succeeded"; fi
echo "$err" | grep -q "Invalid argument" || fail "garbage: $err"
echo OK
