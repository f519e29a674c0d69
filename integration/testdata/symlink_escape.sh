#!/bin/bash
# Symlinks a container makes (live) or its image ships (before and after
# start) never lead the client out of the container's files/: the links of
# issue 8 and links aimed at a client-side canary resolve inside files/,
# reads never see the canary's secret and writes land in the container.
# usage: symlink_escape.sh MNT CANARY SECRET live|image
# (image: the image "symlinks:v1" holds the links and the directory CANARY)
set -euo pipefail
MNT=$1 CANARY=$2 SECRET=$3 MODE=$4
fail() {
	echo "FAIL: $*" >&2
	echo "status: $(cat "$MNT/nodes/any/$C/status" 2>&1); error: $(cat "$MNT/nodes/any/$C/error" 2>&1)" >&2
	exit 1
}
expect() { [ "$2" == "$3" ] || fail "$1: got '$2', want '$3'"; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$MNT/nodes/any"
C=esc-$MODE
DEEP=d1/d2/d3/d4/d5/d6/d7/d8/d9/d10
UP=../../../../../../../../../..
C0=${CANARY#/}
LINKS=(esc esc-canary abs-canary "$DEEP/rel-canary" "$DEEP/up" updir canarydir)

ctl() { echo "$1" > $C/ctl; }
# run CMD: runs CMD in the container, prints its stdout, fails on non-zero.
run() {
	ctl "run sh -c \"$1\""
	local code
	code=$(cat $C/procs/last/wait)
	[ "$code" == 0 ] || fail "run $1: exit $code: $(cat $C/procs/last/stderr)"
	cat $C/procs/last/stdout
}

# checks WHEN: every link resolves inside files/, shows a relative target,
# and reading it never gives the client's secret.
checks() {
	local F=$C/files FR
	FR=$(realpath $F)
	inside() { case "$1" in "$FR" | "$FR"/*) ;; *) fail "$2 ($3): $4 leads to $1, outside $FR" ;; esac }
	for l in "${LINKS[@]}"; do
		[ -L "$F/$l" ] || fail "$l ($1) is not a link: $(ls -la "$F/$l" 2>&1)"
		t=$(readlink "$F/$l")
		case "$t" in /*) fail "$l ($1) shows an absolute target $t" ;; esac
		rp=$(realpath -m "$F/$l") && inside "$rp" "$l" "$1" "realpath -m"
		if rp=$(readlink -f "$F/$l"); then inside "$rp" "$l" "$1" "readlink -f"; fi
		if out=$(cat "$F/$l" 2>&1); then :; fi
		case "$out" in *"$SECRET"*) fail "cat $l ($1) read the client's canary" ;; esac
		stat -L "$F/$l" > /dev/null 2>&1 || true
	done
	# The issue's link: where the container would reach, /etc/hostname.
	expect "readlink esc ($1)" "$(readlink $F/esc)" "etc/hostname"
	expect "realpath esc ($1)" "$(realpath -m $F/esc)" "$FR/etc/hostname"
	expect "readlink up ($1)" "$(readlink $F/$DEEP/up)" "$UP"
	expect "realpath up ($1)" "$(realpath $F/$DEEP/up)" "$FR"
	expect "readlink esc-canary ($1)" "$(readlink $F/esc-canary)" "$C0/secret"
	expect "readlink rel-canary ($1)" "$(readlink $F/$DEEP/rel-canary)" "$UP/$C0/secret"
	expect "realpath canarydir ($1)" "$(realpath $F/canarydir)" "$FR/$C0"
	# find -L, cp -r and cp -rL through the links stay in the container.
	find -L $F/canarydir $F/esc-canary $F/abs-canary $F/$DEEP/rel-canary > $TMP/find 2>&1 || true
	while read -r p; do
		case "$p" in "$F"/*) inside "$(realpath -m "$p")" "$p" "$1" "find -L" ;; esac
	done < $TMP/find
	rm -rf $TMP/cp $TMP/cpL
	mkdir $TMP/cp $TMP/cpL
	cp -r $F/d1 $F/esc-canary $F/canarydir $TMP/cp/ 2>/dev/null || true
	cp -rL $F/canarydir $F/esc-canary $F/abs-canary $F/$DEEP/rel-canary $TMP/cpL/ 2>/dev/null || true
	if grep -rqs "$SECRET" $TMP/cp $TMP/cpL; then fail "cp ($1) copied the client's canary"; fi
	# A copied link still leads inside the copy: its .. steps end at the copy of files/.
	expect "copied up ($1)" "$(readlink $TMP/cp/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/up)" "$UP"
}

mkdir $C
if [ "$MODE" == live ]; then
	echo busybox > $C/image
	ctl "start asleep"
	run "mkdir -p /$DEEP /$C0 && ln -s $UP /$DEEP/up && ln -s $DEEP/up/$UP/etc/hostname /esc && ln -s $DEEP/up/$UP/$C0/secret /esc-canary && ln -s $CANARY/secret /abs-canary && ln -s $UP/../../../../../$C0/secret /$DEEP/rel-canary && ln -s $DEEP/up /updir && ln -s updir/$UP/$C0 /canarydir"
	checks running
else
	echo symlinks:v1 > $C/image
	checks "before start"
	# A write before start through a link becomes a pre-boot file in files/.
	# (/etc/hostname: a pre-boot file cannot be written again after start.)
	echo pwned-before > $C/files/esc || fail "pre-boot write through esc"
	expect "pre-boot write through a link" "$(cat $C/files/etc/hostname)" "pwned-before"
	ctl "start asleep"
	expect "pre-boot write in the container" "$(run "cat /etc/hostname")" "pwned-before"
	checks "after start"
fi
# Writes through the links land in the container, never in the client's canary.
echo pwned1 > $C/files/esc-canary
expect "write through esc-canary" "$(run "cat /$C0/secret")" "pwned1"
echo pwned2 > $C/files/abs-canary
expect "write through abs-canary" "$(run "cat /$C0/secret")" "pwned2"
echo pwned3 > $C/files/$DEEP/rel-canary
expect "write through rel-canary" "$(run "cat /$C0/secret")" "pwned3"
echo pwned4 > $C/files/canarydir/secret
expect "write through canarydir" "$(run "cat /$C0/secret")" "pwned4"
if [ "$MODE" == live ]; then
	cat /etc/hostname > $C/files/esc
	expect "write through esc" "$(run "cat /etc/hostname")" "$(cat /etc/hostname)"
fi
grep -qs "$SECRET" "$CANARY/secret" || fail "client canary changed: $(cat "$CANARY/secret")"
ctl destroy
echo OK
