package kubelet

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/panoptes-dev/panoptes/internal/collector/container"
)

var update = flag.Bool("update", false, "rewrite testdata/resource.prom and testdata/summary.json from the current output")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (go test -update writes it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("output differs from %s (-want +got); rerun with -update if intended:\n%s", path, diff)
	}
}

// TestResourceGolden: /metrics/resource for the fixture.
func TestResourceGolden(t *testing.T) {
	h := NewResourceHandler(&fakeSource{snaps: []container.Snapshot{fixtureSnapshot(0)}}, discard())
	resp := get(t, h, "/metrics/resource")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	golden(t, "resource.prom", body(t, resp))
}

// TestSummaryGolden: /stats/summary for the fixture read twice 10 s apart,
// so that usageNanoCores is there.
func TestSummaryGolden(t *testing.T) {
	h := newSummary(&fakeSource{snaps: []container.Snapshot{fixtureSnapshot(0), fixtureSnapshot(1)}})
	first := get(t, h, "/stats/summary")
	if first.StatusCode != 200 {
		t.Fatalf("status %d: %s", first.StatusCode, body(t, first))
	}
	body(t, first)
	resp := get(t, h, "/stats/summary")
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	golden(t, "summary.json", body(t, resp))
}
