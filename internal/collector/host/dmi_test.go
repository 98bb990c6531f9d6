package host

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func TestDMIMatchesNodeExporter(t *testing.T) {
	t.Parallel()
	compareWithNodeExporter(t, "dmi")
}

// TestDMINone: no /sys/class/dmi (ARM boards, this project's CI VM) is no
// data, as node_exporter reports it.
func TestDMINone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sys", "class"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := render(t, "dmi", fixtureConfig(t, dir)); !errors.Is(err, collector.ErrNoData) {
		t.Errorf("err = %v, want ErrNoData", err)
	}
}

// TestDMIReadOnce: the values are read once, as node_exporter reads them
// at start: a later change on disk is not seen.
func TestDMIReadOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	id := filepath.Join(dir, "sys", "class", "dmi", "id")
	writeFixture(t, filepath.Join(id, "sys_vendor"), "QEMU\n")
	writeFixture(t, filepath.Join(id, "product_name"), "Standard PC (Q35 + ICH9, 2009)\n")
	cs, err := New([]string{"dmi"}, fixtureConfig(t, dir), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		var sink collector.Sink
		if err := cs[0].Collector.Update(t.Context(), &sink); err != nil {
			t.Fatalf("scrape %d: %v", i, err)
		}
		ms := sink.Metrics()
		if len(ms) != 1 || ms[0].(*collector.Sample).LabelValues[0] != "Standard PC (Q35 + ICH9, 2009)" {
			t.Fatalf("scrape %d: %v", i, ms)
		}
		writeFixture(t, filepath.Join(id, "product_name"), "changed\n")
	}
}
