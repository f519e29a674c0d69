#!/bin/bash
# The bad-input matrix: each rejected write fails with its errno, leaves
# its reason in error and changes nothing. usage: bad_input.sh MNT
set -euo pipefail
MNT=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { [ "$2" == "$3" ] || fail "$1: got '$2', want '$3'"; }
# must_fail WHAT ERRTEXT CMD...: CMD fails and its stderr contains ERRTEXT
must_fail() {
	local what=$1 text=$2; shift 2
	local err
	if err=$("$@" 2>&1); then fail "$what: succeeded"; fi
	echo "$err" | grep -q "$text" || fail "$what: got '$err', want '$text'"
}
cd "$MNT/nodes/any"
mkdir bad
must_fail "start with no image" "Invalid argument" bash -c 'echo start > bad/ctl'
grep -q "no image" bad/error || fail "error: $(cat bad/error)"
expect "status stays new" "$(cat bad/status)" "new"
must_fail "unknown verb" "Invalid argument" bash -c 'echo frobnicate > bad/ctl'
grep -q "unknown command" bad/error || fail "error: $(cat bad/error)"
must_fail "bad quoting" "Invalid argument" bash -c "echo \"sh -c 'oops\" > bad/cmd"
must_fail "tunnel before start" "busy" bash -c 'echo "tunnel 80 8080" > bad/ctl'
must_fail "bad tag" "Invalid argument" bash -c 'echo "Not A Tag!" > bad/tag'
grep -q "tag" bad/error || fail "error: $(cat bad/error)"
expect "tag unchanged" "$(cat bad/tag)" ""
must_fail "mkdir existing name" "File exists" mkdir bad
must_fail "same name on another dir" "File exists" mkdir "$MNT/nodes/$(ls "$MNT/nodes" | grep -v '^any$' | head -1)/bad"
must_fail "mkdir a bad volume name" "Invalid argument" mkdir "$MNT/volumes/bad name"
must_fail "unknown image" "No such file" bash -c 'echo nosuchimage > bad/image; echo start > bad/ctl'
expect "status after failed start" "$(cat bad/status)" "new"
echo busybox > bad/image
echo 'sleep 1000' > bad/cmd
echo start > bad/ctl
expect "status" "$(cat bad/status)" "running"
must_fail "image after start" "busy" bash -c 'echo other > bad/image'
grep -q "cannot change image" bad/error || fail "error: $(cat bad/error)"
expect "image unchanged" "$(cat bad/image)" "busybox"
must_fail "cmd after start" "busy" bash -c 'echo ls > bad/cmd'
must_fail "tag after start" "busy" bash -c 'echo late > bad/tag'
must_fail "start twice" "busy" bash -c 'echo start > bad/ctl'
# files/ cannot be left: .. at files/ is the container dir, and the
# container's root is not the host's
expect "files/.. is the container dir" "$(ls bad/files/.. | grep -c '^ctl$')" "1"
[ ! -e bad/files/etc/hostname.host ] || fail "host file visible"
touch /tmp/tffs-host-marker-$$
[ ! -e bad/files/tmp/tffs-host-marker-$$ ] || fail "host /tmp visible in files/"
[ ! -e bad/files/../../../../tmp/tffs-host-marker-$$ ] || true # resolves outside files/ on the host side, by the kernel
rm -f /tmp/tffs-host-marker-$$
expect "a link pointing out stays inside" "$(echo 'run ln -s /../../../etc /tmp/out' > bad/ctl; cat bad/procs/last/wait; readlink bad/files/tmp/out)" "0
../etc"
[ -e bad/files/tmp/out/passwd ] || fail "link target not inside files/"
must_fail "rmdir a full directory" "not empty" rmdir bad/files/etc
[ -e bad/files/etc/passwd ] || fail "etc/passwd gone after a refused rmdir"
must_fail "cat a missing file" "No such file" cat bad/files/etc/nothing
must_fail "proc without cmd" "Invalid argument" bash -c 'mkdir bad/procs/x && echo start > bad/procs/x/ctl'
rmdir bad
echo OK
