package host

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestXFSThisMachine: this machine has the xfs module (global
// /sys/fs/xfs/stats) but no XFS file system; node_exporter reports success
// and no series there, and so do we.
func TestXFSThisMachine(t *testing.T) {
	t.Parallel()
	out, err := render(t, "xfs", DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob("/sys/fs/xfs/*/stats/stats")
	if len(matches) == 0 && strings.TrimSpace(out) != "" {
		t.Errorf("no XFS file system here, got:\n%s", out)
	}
	if len(matches) > 0 && !strings.Contains(out, "node_xfs_read_calls_total{device=") {
		t.Errorf("XFS file systems %v not reported:\n%s", matches, out)
	}
}

func TestXFSMalformed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFixture(t, filepath.Join(dir, "sys", "fs", "xfs", "sda1", "stats", "stats"), "extent_alloc 1 2 3\n")
	writeFixture(t, filepath.Join(dir, "proc", "loadavg"), "0 0 0 1/1 1\n")
	out, err := render(t, "xfs", fixtureConfig(t, dir))
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "sys", "fs", "xfs")) {
		t.Errorf("err = %v, want a parse error naming the stats path", err)
	}
	if strings.TrimSpace(out) != "" {
		t.Errorf("partial output:\n%s", out)
	}
}
