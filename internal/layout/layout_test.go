package layout

import (
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/tffs/tffs/"

// rule says which of our packages a package may import.
type rule struct {
	pkg   string   // the package, relative to the module; a trailing /... covers its sub-packages
	allow []string // what it may import of ours; a trailing /... allows sub-packages
}

// Leaf helpers under internal/ that import no daemon or client package.
var leaves = []string{"internal/lifecycle", "internal/ociarchive", "internal/filekind"}

var rules = []rule{
	{"protocol", nil},
	{"node/runtime", []string{"internal/filekind"}},
	{"master", append([]string{"protocol", "master/..."}, leaves...)},
	{"master/...", append([]string{"protocol", "master/..."}, leaves...)},
	{"node", append([]string{"protocol", "node/..."}, leaves...)},
	{"node/...", append([]string{"protocol", "node/..."}, leaves...)},
	{"sdk", append([]string{"protocol", "sdk/..."}, leaves...)},
	{"sdk/...", append([]string{"protocol", "sdk/..."}, leaves...)},
	{"fs", append([]string{"sdk", "fs/..."}, leaves...)},
	{"fs/...", append([]string{"sdk", "fs/..."}, leaves...)},
}

func matches(pattern, pkg string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return strings.HasPrefix(pkg, base+"/")
	}
	return pattern == pkg
}

func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

// TestImportDirection fails when a package imports one of ours that its
// rule does not allow (tests excluded: integration tests may use anything).
func TestImportDirection(t *testing.T) {
	root := moduleRoot(t)
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin") {
			return filepath.SkipDir
		}
		p, err := build.ImportDir(path, 0)
		if err != nil {
			return nil // no Go files here
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		var r *rule
		for i := range rules {
			if matches(rules[i].pkg, rel) {
				r = &rules[i]
				break
			}
		}
		if r == nil {
			return nil
		}
		checked++
		for _, imp := range p.Imports {
			ours, ok := strings.CutPrefix(imp, module)
			if !ok {
				continue
			}
			allowed := false
			for _, a := range r.allow {
				allowed = allowed || matches(a, ours)
			}
			if !allowed {
				t.Errorf("%s imports %s: not allowed (may import: %v)", rel, ours, r.allow)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 6 {
		t.Fatalf("only %d packages checked: the walk missed the tree", checked)
	}
}
