package allinone

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestTextfileDirs: the all-in-one reads ./textfile when the flag is not
// given and the directory exists, and nothing else.
func TestTextfileDirs(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if got := textfileDirs(nil); got != nil {
		t.Errorf("no ./textfile: got %v, want none", got)
	}
	if err := os.WriteFile(DefaultTextfileDir, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := textfileDirs(nil); got != nil {
		t.Errorf("./textfile is a file: got %v, want none", got)
	}
	if err := os.Remove(DefaultTextfileDir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(DefaultTextfileDir, 0o755); err != nil {
		t.Fatal(err)
	}
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := textfileDirs(nil)
	if len(got) != 1 {
		t.Fatalf("./textfile exists: got %v", got)
	}
	if g, _ := filepath.EvalSymlinks(got[0]); g != filepath.Join(resolved, DefaultTextfileDir) {
		t.Errorf("./textfile exists: got %v, want %s", got, filepath.Join(resolved, DefaultTextfileDir))
	}
	for _, given := range [][]string{{"/var/lib/node_exporter"}, {""}} {
		if got := textfileDirs(given); !slices.Equal(got, given) {
			t.Errorf("flag given as %q: got %v, want it kept", given, got)
		}
	}
}
