package host

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// copyFixtureTree copies testdata/<name> into a temporary directory that a test
// may change.
func copyFixtureTree(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", filepath.Join("testdata", name)+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("copy fixture: %v: %s", err, out)
	}
	return dir
}

// TestInfinibandEIO: a port file that fails with EIO (a link to
// /proc/self/mem) fails the collector with that error, where a missing file
// is no data.
func TestInfinibandEIO(t *testing.T) {
	t.Parallel()
	dir := copyFixtureTree(t, "infiniband")
	rate := filepath.Join(dir, "sys", "class", "infiniband", "mlx5_0", "ports", "1", "rate")
	if err := os.Remove(rate); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/proc/self/mem", rate); err != nil {
		t.Fatal(err)
	}
	_, err := render(t, "infiniband", fixtureConfig(t, dir))
	if !errors.Is(err, syscall.EIO) || errors.Is(err, collector.ErrNoData) {
		t.Errorf("EIO: err = %v", err)
	}

	// The port's directory gone (the HCA unplugged mid-read): no data.
	if err := os.RemoveAll(filepath.Join(dir, "sys", "class", "infiniband", "mlx5_0", "ports", "1")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "sys", "class", "infiniband", "mlx5_0", "ports", "1"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := render(t, "infiniband", fixtureConfig(t, dir))
	if !errors.Is(err, collector.ErrNoData) || strings.TrimSpace(out) != "" {
		t.Errorf("vanished port: err = %v, output:\n%s", err, out)
	}
}
