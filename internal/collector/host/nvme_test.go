package host

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func TestNVMeMatchesNodeExporter(t *testing.T) {
	t.Parallel()
	compareWithNodeExporter(t, "nvme")
}

// TestNVMeGone: no nvme class, or a controller whose files vanished (a
// hot-removed drive), is no data, as node_exporter reports it; EIO from a
// controller's attribute fails the collector.
func TestNVMeGone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sys", "class"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := render(t, "nvme", fixtureConfig(t, dir)); !errors.Is(err, collector.ErrNoData) {
		t.Errorf("no class: err = %v, want ErrNoData", err)
	}
	ctrl := filepath.Join(dir, "sys", "class", "nvme", "nvme0")
	writeFixture(t, filepath.Join(ctrl, "firmware_rev"), "5B2QGXA7\n")
	if _, err := render(t, "nvme", fixtureConfig(t, dir)); !errors.Is(err, collector.ErrNoData) {
		t.Errorf("vanished files: err = %v, want ErrNoData", err)
	}
	if err := os.Symlink("/proc/self/mem", filepath.Join(ctrl, "model")); err != nil {
		t.Fatal(err)
	}
	if _, err := render(t, "nvme", fixtureConfig(t, dir)); err == nil || errors.Is(err, collector.ErrNoData) {
		t.Errorf("EIO: err = %v, want a failure", err)
	}
}
