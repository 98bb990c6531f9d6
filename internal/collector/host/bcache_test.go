package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBcachePriorityStats: --collector.bcache.priorityStats adds the two
// priority_stats gauges per cache device (values as node_exporter 1.5
// reports them on the same fixture).
func TestBcachePriorityStats(t *testing.T) {
	t.Parallel()
	cfg := fixtureConfig(t, filepath.Join("testdata", "bcache"))
	cfg.Bcache.PriorityStats = true
	out, err := render(t, "bcache", cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`node_bcache_priority_stats_unused_percent{cache_device="cache0",uuid="5d5a0e2c-9f1b-4a5e-8d6c-2b7e1f4c9a31"} 1` + "\n",
		`node_bcache_priority_stats_metadata_percent{cache_device="cache0",uuid="5d5a0e2c-9f1b-4a5e-8d6c-2b7e1f4c9a31"} 0` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
}

func TestBcacheErrors(t *testing.T) {
	t.Parallel()
	// No bcache module (this machine): nothing, successfully.
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sys", "fs"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := render(t, "bcache", fixtureConfig(t, dir))
	if err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("no bcache: err %v, output %q", err, out)
	}
	// A value that does not parse fails the collector, naming the path.
	bad := t.TempDir()
	writeFixture(t, filepath.Join(bad, "sys", "fs", "bcache", "0f0e-1", "congested"), "lots\n")
	_, err = render(t, "bcache", fixtureConfig(t, bad))
	if err == nil || !strings.Contains(err.Error(), filepath.Join(bad, "sys", "fs", "bcache")) {
		t.Errorf("unparsable value: err = %v, want an error naming the bcache path", err)
	}
}
