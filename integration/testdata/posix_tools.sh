#!/bin/bash
# Real tools in a running container's files/: tar -x then tar -d, git,
# rsync -a twice, python's sqlite3, cp -a in and out.
# usage: posix_tools.sh CTRDIR (a running busybox container)
set -euo pipefail
C=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { [ "$2" == "$3" ] || fail "$1: got '$2', want '$3'"; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
REPO=$(cd "$(dirname "$0")/../.." && pwd)
D=$C/files/tmp/tools
mkdir "$D"

# a source tree with modes, times, a relative symlink and a hard link
mkdir "$TMP/src"
cp -a "$REPO/fs" "$REPO/protocol" "$REPO/sdk" "$TMP/src/"
chmod 750 "$TMP/src/fs"
chmod 4755 "$TMP/src/protocol/doc.go"
ln -s fs/fs.go "$TMP/src/lnk"
ln "$TMP/src/sdk/doc.go" "$TMP/src/hardlink"
mkdir "$TMP/src/empty"
tar -cf "$TMP/src.tar" -C "$TMP" src

echo "== tar"
tar -xf "$TMP/src.tar" -C "$D"
tar -df "$TMP/src.tar" -C "$D" || fail "tar -d found differences"

echo "== git"
(
	cd "$D/src"
	git init -q .
	git -c user.name=t -c user.email=t@t add -A
	git -c user.name=t -c user.email=t@t commit -qm tree
	expect "git status" "$(git status --porcelain)" ""
	git fsck --strict 2>&1 || fail "git fsck"
	echo change >> fs/fs.go
	expect "git status after a change" "$(git status --porcelain)" " M fs/fs.go"
	git checkout -q fs/fs.go
	expect "git status after checkout" "$(git status --porcelain)" ""
)

echo "== rsync"
rsync -a "$TMP/src/" "$D/rs/"
out=$(rsync -a --stats "$TMP/src/" "$D/rs/")
echo "$out" | grep -q 'Number of regular files transferred: 0' || fail "second rsync moved files: $out"
rsync -a -n -i "$TMP/src/" "$D/rs/" > "$TMP/itemize"
[ ! -s "$TMP/itemize" ] || fail "rsync -n -i lists changes: $(cat "$TMP/itemize")"

echo "== sqlite"
python3 - "$D/db.sqlite" <<'PY'
import sqlite3, sys
db = sys.argv[1]
c = sqlite3.connect(db)
c.execute("create table t (id integer primary key, v text)")
with c:
    c.executemany("insert into t (v) values (?)", (("row %d" % i,) for i in range(1000)))
c.close()
c = sqlite3.connect(db)
n = c.execute("select count(*) from t").fetchone()[0]
ok = c.execute("pragma integrity_check").fetchone()[0]
c.close()
if n != 1000 or ok != "ok":
    sys.exit("sqlite: %d rows, integrity %s" % (n, ok))
PY

echo "== cp -a"
cp -a "$TMP/src" "$D/cpa"
cp -a "$D/cpa" "$TMP/back"
listing() { (cd "$1" && find . -printf '%p %M %U %G %T@ %n %s %l\n' | sort); }
a=$(listing "$TMP/src")
b=$(listing "$TMP/back")
[ "$a" == "$b" ] || fail "cp -a in and out changed the tree: $(diff <(echo "$a") <(echo "$b") | head -20)"
diff -r "$TMP/src" "$TMP/back" || fail "cp -a contents differ"
expect "hard link kept" "$(stat -c %h "$D/cpa/hardlink")" "2"
echo OK
