package bundle

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/testkit"
)

// webDir is the repository's web/ directory.
func webDir(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "web")
}

// missingModules skips the test, or fails it under CI=true, when web's npm
// packages are not installed (testkit.Missing).
func missingModules(t *testing.T) {
	t.Helper()
	testkit.Missing(t, "web/node_modules", "the UI's npm packages are not installed; `make deps` runs npm ci in web/")
}

// TestCommittedBundleIsFresh rebuilds the bundle from web/src and fails when
// the committed web/dist differs: run `go run ./internal/web/build` and
// commit web/dist.
func TestCommittedBundleIsFresh(t *testing.T) {
	dir := webDir(t)
	out, err := Build(dir)
	if errors.Is(err, ErrNoModules) {
		missingModules(t)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range Outputs {
		committed, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			t.Fatalf("read committed %s: %v", name, err)
		}
		if !bytes.Equal(committed, out[name]) {
			t.Errorf("web/%s is stale (committed %d bytes, sources build %d): run `go run ./internal/web/build` and commit web/dist", name, len(committed), len(out[name]))
		}
	}
}

// TestBuildIsDeterministic: two builds give the same bytes, so the
// freshness check cannot flap.
func TestBuildIsDeterministic(t *testing.T) {
	dir := webDir(t)
	a, err := Build(dir)
	if errors.Is(err, ErrNoModules) {
		missingModules(t)
	}
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range Outputs {
		if !bytes.Equal(a[name], b[name]) {
			t.Errorf("%s differs between two builds", name)
		}
	}
}

// TestBuildErrorsAreClear: a syntax error in the sources names the file.
func TestBuildErrorsAreClear(t *testing.T) {
	src := webDir(t)
	if _, err := os.Stat(filepath.Join(src, "node_modules", "uplot")); err != nil {
		missingModules(t)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(src, "node_modules"), filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "src", "main.ts"), []byte("const x = ;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Build(dir)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("main.ts")) {
		t.Fatalf("Build of a broken source: %v, want an error naming main.ts", err)
	}
}
