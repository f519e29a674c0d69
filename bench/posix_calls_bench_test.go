package bench

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// BenchmarkFSPosixToolCalls counts what each tool of BenchmarkFSPosixTools
// costs through a started container's files/: the FUSE requests the mount
// served, by kind, and the location calls (round trips) they made. The
// figures are counts, not times, so they hold on a busy machine.
func BenchmarkFSPosixToolCalls(b *testing.B) {
	fb := mountBench(b)
	fb.sleepers(b, "posixcalls")
	_, self, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(self), "..")
	M := fb.mnt + "/nodes/any/posixcalls/files/tmp"
	src := b.TempDir()
	sh(b, 2*time.Minute, `
S=$1; REPO=$2
mkdir -p "$S/tree"
for i in $(seq 250); do printf 'file %d\n%s\n' $i "$RANDOM$RANDOM" > "$S/tree/f$i.txt"; done
tar -cf "$S/src.tar" -C "$REPO" fs protocol sdk node
mkdir "$S/many"; for i in $(seq 1000); do : > "$S/many/e$i"; done
`, src, repo)
	steps := []struct{ name, script string }{
		{"setup", `mkdir -p "$D/git" "$D/sql" "$D/tar"; cp -r "$S/tree/." "$D/git/"; cp -r "$S/many" "$D/many"`},
		{"git", `cd "$D/git" && git init -q . && git -c user.name=b -c user.email=b@b add -A && git -c user.name=b -c user.email=b@b commit -qm x >/dev/null`},
		{"sqlite", `python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("create table t (id integer primary key, v text)")
with c:
    c.executemany("insert into t (v) values (?)", (("row %d" % i,) for i in range(1000)))
c.close()' "$D/sql/db.sqlite"`},
		{"tar", `tar -xf "$S/src.tar" -C "$D/tar"`},
		{"ls", `sleep 2.2; ls -l "$D/many" >/dev/null`},
		{"lsdbg", `mkdir "$D/dbg"; : > "$D/dbg/a"; : > "$D/dbg/b"; sleep 2.2; echo DBGSTART >&2; ls -l "$D/dbg" >/dev/null; echo DBGEND >&2`},
		{"rm", `rm -rf "$D"`},
	}
	for b.Loop() {
		for _, st := range steps {
			before := fb.m.Counts()
			sh(b, 10*time.Minute, "S=$1; D=$2\n"+st.script, src, M+"/calls")
			after := fb.m.Counts()
			var parts []string
			for k, n := range after {
				if d := n - before[k]; d > 0 && k != "calls" {
					parts = append(parts, fmt.Sprintf("%s=%d", k, d))
				}
			}
			sort.Strings(parts)
			calls := after["calls"] - before["calls"]
			b.Logf("%s: calls=%d %s", st.name, calls, strings.Join(parts, " "))
			b.ReportMetric(float64(calls), "calls-"+st.name)
		}
	}
}
