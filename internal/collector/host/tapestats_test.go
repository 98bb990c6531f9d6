package host

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func TestTapestatsIgnoredDevices(t *testing.T) {
	t.Parallel()
	cfg := fixtureConfig(t, filepath.Join("testdata", "tapestats"))
	cfg.Tapestats.IgnoredDevices = `^st1$`
	out, err := render(t, "tapestats", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, `device="st1"`) || !strings.Contains(out, `node_tape_io_now{device="st0"} 1`) {
		t.Errorf("want st0 only:\n%s", out)
	}
	cfg.Tapestats.IgnoredDevices = `(`
	if _, err := newTapestats(cfg, nil); err == nil {
		t.Error("invalid pattern accepted")
	}
}

func TestTapestatsErrors(t *testing.T) {
	t.Parallel()
	// No st driver (this machine): no data.
	empty := t.TempDir()
	if err := os.MkdirAll(filepath.Join(empty, "sys", "class"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := render(t, "tapestats", fixtureConfig(t, empty)); !errors.Is(err, collector.ErrNoData) {
		t.Errorf("no scsi_tape class: err = %v, want ErrNoData", err)
	}
	// A counter that cannot be read (here a directory, read gives EISDIR
	// as a dying drive gives EIO) fails the collector, naming the file.
	dir := t.TempDir()
	writeFixture(t, filepath.Join(dir, "sys", "class", "scsi_tape", "st0", "stats", "read_cnt"), "5\n")
	if err := os.MkdirAll(filepath.Join(dir, "sys", "class", "scsi_tape", "st0", "stats", "write_cnt"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := render(t, "tapestats", fixtureConfig(t, dir))
	if err == nil || errors.Is(err, collector.ErrNoData) || !strings.Contains(err.Error(), "write_cnt") {
		t.Errorf("unreadable counter: err = %v, want an error naming write_cnt", err)
	}
}
