package host

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func TestRaplMatchesNodeExporter(t *testing.T) {
	t.Parallel()
	compareWithNodeExporter(t, "rapl")
}

// TestRaplZoneLabel: --collector.rapl.enable-zone-label puts every zone in
// one family, as node_exporter's flag does.
func TestRaplZoneLabel(t *testing.T) {
	t.Parallel()
	cfg := fixtureConfig(t, filepath.Join("testdata", "rapl"))
	cfg.Rapl.EnableZoneLabel = true
	out, err := render(t, "rapl", cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := `node_rapl_joules_total{index="1",path="testdata/rapl/sys/class/powercap/intel-rapl:1:0",rapl_zone="dram"} 22011.40629`
	if !strings.Contains(out, want) || strings.Contains(out, "node_rapl_dram_joules_total") {
		t.Errorf("want %s alone:\n%s", want, out)
	}
}

func TestRaplNone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFixture(t, filepath.Join(dir, "sys", "class", "README"), "no powercap\n")
	if _, err := render(t, "rapl", fixtureConfig(t, dir)); !errors.Is(err, collector.ErrNoData) {
		t.Errorf("err = %v, want ErrNoData", err)
	}
}
