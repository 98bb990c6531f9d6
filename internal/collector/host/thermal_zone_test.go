package host

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func TestThermalZoneMatchesNodeExporter(t *testing.T) {
	t.Parallel()
	compareWithNodeExporter(t, "thermal_zone")
}

// TestThermalZoneUnreadable: a zone whose temperature read fails with EIO
// (temp links to /proc/self/mem, whose first page cannot be read) fails the
// collector, as in node_exporter 1.5, rather than reporting a made-up
// temperature.
func TestThermalZoneUnreadable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	z := filepath.Join(dir, "sys", "class", "thermal", "thermal_zone0")
	writeFixture(t, filepath.Join(z, "type"), "acpitz\n")
	writeFixture(t, filepath.Join(z, "policy"), "step_wise\n")
	if err := os.Symlink("/proc/self/mem", filepath.Join(z, "temp")); err != nil {
		t.Fatal(err)
	}
	_, err := render(t, "thermal_zone", fixtureConfig(t, dir))
	if err == nil || errors.Is(err, collector.ErrNoData) || !strings.Contains(err.Error(), "thermal_zone0") {
		t.Errorf("err = %v, want a failure naming thermal_zone0", err)
	}
}

// TestThermalZoneNone: a machine without thermal zones (most VMs) reports
// nothing and succeeds, as node_exporter does.
func TestThermalZoneNone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sys", "class", "thermal"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := render(t, "thermal_zone", fixtureConfig(t, dir))
	if err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("err = %v, output %q; want success and nothing", err, out)
	}
}
