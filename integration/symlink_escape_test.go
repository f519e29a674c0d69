package integration

import (
	"archive/tar"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tffs/tffs/internal/ociarchive"
	"github.com/tffs/tffs/internal/testenv"
	"github.com/tffs/tffs/sdk"
)

const (
	escDeep = "d1/d2/d3/d4/d5/d6/d7/d8/d9/d10"
	escUp   = "../../../../../../../../../.."
)

// canary is a directory of the client machine that containers aim their
// links at; nothing done through the mount may read or change it.
type canary struct {
	dir, secret string
}

func newCanary(t *testing.T) canary {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "tffs-canary-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var b [12]byte
	rand.Read(b[:])
	c := canary{dir: dir, secret: "tffs-canary-secret-" + hex.EncodeToString(b[:])}
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte(c.secret+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// check fails unless the canary holds exactly what it was made with.
func (c canary) check(t *testing.T) {
	t.Helper()
	ents, err := os.ReadDir(c.dir)
	if err != nil || len(ents) != 1 || ents[0].Name() != "secret" {
		t.Fatalf("canary dir %s changed: %v %v", c.dir, ents, err)
	}
	if b, err := os.ReadFile(filepath.Join(c.dir, "secret")); err != nil || string(b) != c.secret+"\n" {
		t.Fatalf("canary changed: %q %v", b, err)
	}
}

// escapeLinks are the links of issue 8 and links aimed at the canary, by
// container path (the same set symlink_escape.sh makes in a live
// container), with where each leads inside the container.
func escapeLinks(c canary) []struct{ link, target, resolved string } {
	c0 := strings.TrimPrefix(c.dir, "/")
	return []struct{ link, target, resolved string }{
		{"/" + escDeep + "/up", escUp, "/"},
		{"/esc", escDeep + "/up/" + escUp + "/etc/hostname", "/etc/hostname"},
		{"/esc-canary", escDeep + "/up/" + escUp + "/" + c0 + "/secret", c.dir + "/secret"},
		{"/abs-canary", c.dir + "/secret", c.dir + "/secret"},
		{"/" + escDeep + "/rel-canary", escUp + "/../../../../../" + c0 + "/secret", c.dir + "/secret"},
		{"/updir", escDeep + "/up", "/"},
		{"/canarydir", "updir/" + escUp + "/" + c0, c.dir},
	}
}

// escapeImage builds the image "symlinks:v1": busybox with escapeLinks
// and the canary's directory (empty) in it.
func escapeImage(t *testing.T, c canary) string {
	t.Helper()
	var hs []*tar.Header
	dir := func(p string) { hs = append(hs, &tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: 0o755}) }
	for i := range strings.Split(escDeep, "/") {
		dir(strings.Join(strings.Split(escDeep, "/")[:i+1], "/"))
	}
	if path.Dir(c.dir) != "/tmp" {
		t.Fatalf("canary %s not directly under /tmp", c.dir)
	}
	dir(strings.TrimPrefix(c.dir, "/"))
	for _, l := range escapeLinks(c) {
		hs = append(hs, &tar.Header{Typeflag: tar.TypeSymlink, Name: strings.TrimPrefix(l.link, "/"), Linkname: l.target, Mode: 0o777})
	}
	out := filepath.Join(t.TempDir(), "symlinks.tar")
	if err := ociarchive.BuildBusyboxWith("/bin/busybox", out, "symlinks:v1", hs...); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSymlinkEscape is issue 8's first break, done as it was: links a
// container makes, or an image ships, that climb through other links must
// not lead a client's reads, writes, stat, realpath, cp or find out of
// the container's files/ — here to a canary directory of the client.
func TestSymlinkEscape(t *testing.T) {
	requireFUSE(t)
	env := testenv.Start(t)
	loc := env.Connect(t)
	mnt := mountAt(t, loc)
	cn := newCanary(t)
	defer cn.check(t)

	t.Run("Live", func(t *testing.T) {
		runScript(t, 3*time.Minute, "symlink_escape.sh", mnt, cn.dir, cn.secret, "live")
		cn.check(t)
	})
	t.Run("Image", func(t *testing.T) {
		ctx := testenv.Ctx(t, time.Minute)
		if _, err := loc.ImportImages(ctx, escapeImage(t, cn), nil); err != nil {
			t.Fatal(err)
		}
		// The master resolves the image's links in its merged tree.
		want := map[string]string{}
		for _, l := range escapeLinks(cn) {
			want[l.link] = l.resolved
		}
		for _, dir := range []string{"/", "/" + escDeep} {
			list, err := loc.ListImage(ctx, "symlinks:v1", dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, fi := range list {
				if w, ok := want[fi.Name]; ok {
					if fi.Resolved != w {
						t.Errorf("ListImage %s: resolved %q, want %q", fi.Name, fi.Resolved, w)
					}
					delete(want, fi.Name)
				}
			}
		}
		if len(want) != 0 {
			t.Errorf("ListImage did not list %v", want)
		}
		runScript(t, 3*time.Minute, "symlink_escape.sh", mnt, cn.dir, cn.secret, "image")
		cn.check(t)
	})
	t.Run("SDK", func(t *testing.T) {
		ctx := testenv.Ctx(t, time.Minute)
		ctr, err := loc.Node().SpawnContainer(ctx, "busybox", sdk.Asleep())
		if err != nil {
			t.Fatal(err)
		}
		defer ctr.Destroy(ctx)
		var cmd []string
		for _, l := range escapeLinks(cn) {
			cmd = append(cmd, fmt.Sprintf("mkdir -p %s && ln -s '%s' %s", path.Dir(l.link), l.target, l.link))
		}
		if out, code, err := ctr.Run(ctx, "sh", "-c", strings.Join(cmd, " && ")); err != nil || code != 0 {
			t.Fatalf("making links: %d %v %s", code, err, out)
		}
		for _, l := range escapeLinks(cn) {
			fi, err := ctr.Stat(ctx, l.link)
			if err != nil || fi.Link != l.target || fi.Resolved != l.resolved {
				t.Errorf("Stat %s: link %q resolved %q (%v), want %q → %q", l.link, fi.Link, fi.Resolved, err, l.target, l.resolved)
			}
		}
		list, err := ctr.List(ctx, "/")
		if err != nil {
			t.Fatal(err)
		}
		for _, fi := range list {
			if fi.Name == "/esc" && fi.Resolved != "/etc/hostname" {
				t.Errorf("List: /esc resolved %q", fi.Resolved)
			}
		}
		// Fetch through the link reads the container's file, not the client's.
		if err := ctr.Put(ctx, cn.dir+"/secret", []byte("container's own")); err != nil {
			t.Fatal(err)
		}
		if b, err := ctr.Fetch(ctx, "/esc-canary"); err != nil || string(b) != "container's own" {
			t.Errorf("Fetch /esc-canary: %q %v", b, err)
		}
		cn.check(t)
	})
}

// TestSymlinkRandomWalk lets a container build random trees of symlinks
// (relative, absolute, through "..", chained, loops, dangling, aimed at
// the client's canary) and walks them through the mount with realpath,
// readlink -f, stat, cat, cp -r and find -L: nothing may lead outside
// files/, read the canary's secret or change it. The seed is fixed and
// logged; TFFS_SYMLINK_SEED runs another.
func TestSymlinkRandomWalk(t *testing.T) {
	requireFUSE(t)
	seed := int64(8)
	if s := os.Getenv("TFFS_SYMLINK_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seed %d (TFFS_SYMLINK_SEED=N runs seed N)", seed)
	env := testenv.Start(t)
	loc := env.Connect(t)
	mnt := mountAt(t, loc)
	cn := newCanary(t)
	gen := filepath.Join(t.TempDir(), "gen.sh")
	script := randomLinks(seed, cn.dir)
	if err := os.WriteFile(gen, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("gen.sh:\n%s", script)
	runScript(t, 10*time.Minute, "symlink_walk.sh", mnt, gen, cn.dir, cn.secret)
	cn.check(t)
}

// randomLinks writes a shell script that builds a random tree under /r:
// directories, files, and links of every kind, including ones aimed at
// the client's canary directory.
func randomLinks(seed int64, canaryDir string) string {
	r := mrand.New(mrand.NewSource(seed))
	var b strings.Builder
	b.WriteString("set -e\nmkdir -p /r " + canaryDir + "\necho container-copy > " + canaryDir + "/secret\n")
	dirs := []string{"/r"}
	for i := range 10 {
		d := fmt.Sprintf("%s/d%d", dirs[r.Intn(len(dirs))], i)
		dirs = append(dirs, d)
		fmt.Fprintf(&b, "mkdir -p %s\n", d)
	}
	// One deep chain, deeper than the mount's own path.
	deep := "/r"
	for i := range 12 {
		deep += fmt.Sprintf("/e%d", i)
	}
	fmt.Fprintf(&b, "mkdir -p %s\n", deep)
	dirs = append(dirs, deep)
	// Each directory has "up", a link to / (climbing as far as it is deep,
	// or further): text after it can climb out of files/ while, read as
	// text, it stays inside — the break of issue 8.
	var ups []string
	for _, d := range dirs {
		depth := strings.Count(d, "/")
		up := d + "/up"
		ups = append(ups, up)
		fmt.Fprintf(&b, "ln -s '%s' %s\n", strings.TrimSuffix(strings.Repeat("../", depth+r.Intn(3)), "/"), up)
	}
	var files []string
	for i := range 6 {
		f := fmt.Sprintf("%s/f%d", dirs[r.Intn(len(dirs))], i)
		files = append(files, f)
		fmt.Fprintf(&b, "echo file%d > %s\n", i, f)
	}
	links := make([]string, 40)
	for i := range links {
		d := dirs[r.Intn(len(dirs))]
		if r.Intn(10) == 0 {
			d = ""
		}
		links[i] = fmt.Sprintf("%s/l%d", d, i)
	}
	known := append(append(append(append([]string{}, dirs...), files...), links...), ups...)
	pick := func() string { return known[r.Intn(len(known))] }
	climb := func(n int) string { return strings.Repeat("../", n) }
	c0 := strings.TrimPrefix(canaryDir, "/")
	for i, l := range links {
		var target string
		// A relative path from the link's directory through some "up"
		// link (half the time the deep one), then climbing as far as the
		// text allows without leaving the container's root: the kernel,
		// once through "up", would climb that far above files/.
		up := ups[r.Intn(len(ups))]
		if r.Intn(2) == 0 {
			up = deep + "/up"
		}
		rel, _ := filepath.Rel(path.Dir(l), up)
		viaUp := rel + "/" + climb(r.Intn(strings.Count(up, "/")+1)) + c0
		switch r.Intn(14) {
		case 0:
			target = pick() // absolute, may be another link
		case 1, 2:
			target = climb(r.Intn(12)) + strings.TrimPrefix(pick(), "/") // relative, often climbing past /
		case 3:
			target = canaryDir + "/secret"
		case 4:
			target = climb(10+r.Intn(10)) + c0 + "/secret"
		case 5, 12:
			target = viaUp + "/secret"
		case 13:
			target = viaUp
		case 6:
			target = fmt.Sprintf("l%d", r.Intn(len(links))) // same-directory chain, maybe a loop
		case 7:
			target = path.Base(l) // itself
		case 8:
			target = "/nonexist/" + climb(r.Intn(4)) + "gone" + strconv.Itoa(i)
		case 9:
			target = []string{"/", ".", "..", "../..", "/r", "r/../../.."}[r.Intn(6)]
		case 10:
			target = "/proc/self/root" + canaryDir + "/secret"
		default:
			target = strings.TrimPrefix(pick(), "/") + "/../" + climb(r.Intn(6)) + strings.TrimPrefix(pick(), "/")
		}
		fmt.Fprintf(&b, "ln -sfn '%s' %s\n", target, l)
	}
	return b.String()
}
