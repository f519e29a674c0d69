package bench

import (
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// BenchmarkFSPosixTools times everyday tools in a started container's
// files/ against the same on local disk, in the same run (issue 11's aim:
// within 3× of local disk, ls -l within 2×): git init+add+commit of a
// 250-file tree, a python sqlite3 1000-row transaction, tar -x of a source
// tree, and ls -l of 1000 files (cold: past the mount's 2 s staleness
// bound, so nothing is cached). The child shell times itself; each figure
// is the median of the rounds.
func BenchmarkFSPosixTools(b *testing.B) {
	fb := mountBench(b)
	fb.sleepers(b, "posixbench")
	_, self, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(self), "..")
	script := `
R=$1; M=$2/nodes/any/posixbench/files/tmp; REPO=$3
L=$(mktemp -d); trap 'rm -rf "$L"' EXIT
S=$(mktemp -d); trap 'rm -rf "$L" "$S"' EXIT
mkdir -p "$S/tree"
for i in $(seq 250); do printf 'file %d\n%s\n' $i "$RANDOM$RANDOM" > "$S/tree/f$i.txt"; done
tar -cf "$S/src.tar" -C "$REPO" fs protocol sdk node
mkdir "$S/many"; for i in $(seq 1000); do : > "$S/many/e$i"; done
t() { local s=` + shNow + `; "$@" >/dev/null; echo $(( ` + shNow + ` - s )); }
git_run() { (cd "$1" && git init -q . && git -c user.name=b -c user.email=b@b add -A && git -c user.name=b -c user.email=b@b commit -qm x); }
sqlite_run() { python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("create table t (id integer primary key, v text)")
with c:
    c.executemany("insert into t (v) values (?)", (("row %d" % i,) for i in range(1000)))
c.close()' "$1/db.sqlite"; }
for r in $(seq $R); do
	for where in local tffs; do
		if [ $where = local ]; then D=$L/r$r; else D=$M/r$r; fi
		mkdir -p "$D/git" "$D/sql" "$D/tar"
		cp -r "$S/tree/." "$D/git/"
		cp -r "$S/many" "$D/many"
		echo "git-$where $(t git_run "$D/git")"
		echo "sqlite-$where $(t sqlite_run "$D/sql")"
		echo "tar-$where $(t tar -xf "$S/src.tar" -C "$D/tar")"
		sleep 2.2
		echo "ls-$where $(t ls -l "$D/many")"
		rm -rf "$D"
	done
done
`
	for b.Loop() {
		rounds := 3
		out := sh(b, 20*time.Minute, script, strconv.Itoa(rounds), fb.mnt, repo)
		for _, w := range []string{"git", "sqlite", "tar", "ls"} {
			tffs, local := median(out.micros(b, w+"-tffs")), median(out.micros(b, w+"-local"))
			b.ReportMetric(float64(tffs.Microseconds())/1000, "ms-"+w+"-tffs")
			b.ReportMetric(float64(local.Microseconds())/1000, "ms-"+w+"-local")
			b.ReportMetric(float64(tffs)/float64(local), "x-"+w)
		}
	}
}
