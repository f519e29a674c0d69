#!/usr/bin/env bash
# make fresh: proves the README's set-up on a fresh Debian bookworm.
#
# Builds a clean Debian root with debootstrap (nothing is cached between
# runs), adds only what the README says a fresh machine needs (Go at
# /usr/local/go with this machine's Go settings, git, this machine's CA
# certificates), clones the current commit into it and runs the README's
# commands there, as root:
#   apt-get update && apt-get install -y make      (the README's one manual step)
#   make deps                                      (with network: apt, go mod download)
#   make demo && make test                         (in a network namespace of their own)
# The root is entered the way a machine's root is: a mount and PID namespace
# of its own, the root bind-mounted onto itself and made the namespace's
# root with pivot_root (a chroot would let processes exec'd in containers
# land outside them), with proc, sys, cgroups and /dev mounted.
# Everything it starts dies with the PID namespace and its mounts with the
# mount namespace; loop devices on files in the root are detached and the
# root removed, also on failure or interrupt.
#
# usage: scripts/fresh.sh      env: FRESH_DIR (parent of the work dir, default /var/tmp),
#                                   FRESH_MIRROR, FRESH_TIMEOUT (seconds, default 4500), FRESH_KEEP=1
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
COMMIT=$(git -C "$SRC" rev-parse HEAD)
MIRROR=${FRESH_MIRROR:-http://deb.debian.org/debian}
GOROOT_HOST=${GOROOT_HOST:-/usr/local/go}
[ "$(id -u)" = 0 ] || { echo "fresh: needs root" >&2; exit 1; }
[ -x "$GOROOT_HOST/bin/go" ] || { echo "fresh: no Go at $GOROOT_HOST" >&2; exit 1; }
WORK=$(mktemp -d "${FRESH_DIR:-/var/tmp}/tffs-fresh.XXXXXX")
ROOT=$WORK/root
START=$(date +%s)
say() { echo "== fresh [$(( $(date +%s) - START ))s]: $*"; }

cleanup() {
	rc=$?
	trap - EXIT INT TERM
	set +e +o pipefail
	# Processes: each phase runs as PID 1 of its own PID namespace under
	# unshare --kill-child; the kernel kills the rest when it ends.
	if [ -n "${PHASE_PID:-}" ] && kill -0 "$PHASE_PID" 2>/dev/null; then
		kill -TERM "$PHASE_PID" 2>/dev/null || true
		wait "$PHASE_PID" 2>/dev/null || true
	fi
	# Loop devices whose backing file is in the root (tests make btrfs images).
	for f in /sys/block/loop*/loop/backing_file; do
		[ -r "$f" ] || continue
		case "$(cat "$f" 2>/dev/null)" in "$WORK"/*)
			dev=/dev/$(basename "$(dirname "$(dirname "$f")")")
			echo "fresh: detaching $dev ($(cat "$f"))"
			losetup -d "$dev" 2>/dev/null || true ;;
		esac
	done
	# Mounts live in the phases' mount namespaces and are gone with them;
	# anything below WORK in ours is a bug, unmount it anyway.
	grep -o " $WORK[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do
		echo "fresh: unmounting leftover $m"; umount -l "$m" || true
	done
	if [ "${FRESH_KEEP:-}" = 1 ]; then
		echo "fresh: kept $WORK"
	else
		rm -rf --one-file-system "$WORK"
	fi
	say "done, exit $rc"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! command -v debootstrap >/dev/null; then
	say "installing debootstrap on this machine"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

say "debootstrap bookworm (minbase + git) into $ROOT from $MIRROR"
debootstrap --variant=minbase --include=git bookworm "$ROOT" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 ||
	{ tail -30 "$WORK/debootstrap.log"; exit 1; }

say "adding Go, Go settings, CA certificates, apt sources; cloning $COMMIT"
cp -a "$GOROOT_HOST" "$ROOT/usr/local/go"
mkdir -p "$ROOT/etc/ssl/certs"
cp -L /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
if [ -f /etc/apt/sources.list.d/debian.sources ]; then # bookworm, -updates and -security, as here
	cp /etc/apt/sources.list.d/debian.sources "$ROOT/etc/apt/sources.list.d/debian.sources"
	: > "$ROOT/etc/apt/sources.list"
fi
GOENV_VARS=""
for v in GOPROXY GOFLAGS GOSUMDB GONOSUMDB GOPRIVATE GONOPROXY GOTOOLCHAIN; do
	val=$("$GOROOT_HOST/bin/go" env "$v")
	[ -n "$val" ] && GOENV_VARS="$GOENV_VARS $v=$val"
done
git clone --quiet --no-checkout "$SRC" "$ROOT/src"
git -C "$ROOT/src" checkout --quiet "$COMMIT"
# The module cache of this machine is the lower layer of an overlay (read
# only, writes go to the upper one): saves downloads, while `go mod
# download` still runs and fetches what is missing. No build cache is
# shared: a cached cgo build would hide a missing C compiler.
HOST_MODCACHE=$("$GOROOT_HOST/bin/go" env GOMODCACHE)
mkdir -p "$ROOT/root/go/pkg/mod" "$WORK/modupper" "$WORK/modwork"

# enter NET CMD: runs CMD as root in the fresh root, entered properly.
# NET=own gives it a network namespace of its own (only lo).
enter() {
	local net=$1 cmd=$2 flags=(--mount --pid --fork --kill-child --propagation private)
	[ "$net" = own ] && flags+=(--net)
	local left=$(( ${FRESH_TIMEOUT:-4500} - ($(date +%s) - START) ))
	[ "$left" -gt 0 ] || { echo "fresh: out of time (FRESH_TIMEOUT)" >&2; return 1; }
	# timeout ends unshare, and unshare --kill-child then the PID namespace.
	timeout "$left" unshare "${flags[@]}" bash -euc '
		R=$1 WORK=$2 MODS=$3 NET=$4 ENVV=$5 CMD=$6
		mount --bind "$R" "$R"
		mount -t proc proc "$R/proc"
		mount -t sysfs sysfs "$R/sys"
		mount --rbind /sys/fs/cgroup "$R/sys/fs/cgroup"
		mount --rbind /dev "$R/dev"
		mount -t tmpfs -o mode=755 tmpfs "$R/run"
		[ -d "$MODS" ] && mount -t overlay overlay -o "lowerdir=$MODS,upperdir=$WORK/modupper,workdir=$WORK/modwork" "$R/root/go/pkg/mod"
		[ "$NET" = own ] && ip link set lo up
		mkdir -p "$R/.oldroot"
		cd "$R"
		pivot_root . .oldroot
		cd /
		umount -l /.oldroot
		rmdir /.oldroot
		exec env -i HOME=/root TERM=dumb LANG=C.UTF-8 CI=true \
			PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			$ENVV bash -euc "cd /src && $CMD"
	' enter "$ROOT" "$WORK" "$HOST_MODCACHE" "$net" "$GOENV_VARS" "$cmd" &
	PHASE_PID=$!
	wait "$PHASE_PID"
}

say "in the root, with network: the README's manual step, then make deps"
enter host 'test "$(findmnt -n -o TARGET /)" = / && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make >/dev/null && make deps'
say "in the root, own network namespace: make demo"
enter own 'make demo'
say "in the root, own network namespace: make test"
enter own 'make test'
say "make demo and make test passed on a fresh bookworm root"
