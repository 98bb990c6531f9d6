package host

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func TestSchedstatErrors(t *testing.T) {
	t.Parallel()
	// A kernel without CONFIG_SCHEDSTATS (this machine's): no data.
	empty := t.TempDir()
	writeFixture(t, filepath.Join(empty, "proc", "loadavg"), "0 0 0 1/1 1\n")
	if _, err := render(t, "schedstat", fixtureConfig(t, empty)); !errors.Is(err, collector.ErrNoData) {
		t.Errorf("missing schedstat: err = %v, want ErrNoData", err)
	}
	// A CPU line that does not parse is skipped (procfs, hence
	// node_exporter, does so); the others are still reported.
	bad := t.TempDir()
	writeFixture(t, filepath.Join(bad, "proc", "schedstat"), "version 15\ncpu0 0 0 0 0 0 0 99999999999999999999999 1 2\ncpu1 0 0 0 0 0 0 2500000000 7 9\n")
	out, err := render(t, "schedstat", fixtureConfig(t, bad))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, `cpu="0"`) || !strings.Contains(out, `node_schedstat_running_seconds_total{cpu="1"} 2.5`) {
		t.Errorf("want cpu1 only, got:\n%s", out)
	}
}
