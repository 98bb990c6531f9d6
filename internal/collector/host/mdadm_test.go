package host

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func TestMdadmErrors(t *testing.T) {
	t.Parallel()
	// No md driver: no data, as node_exporter reports it.
	empty := t.TempDir()
	writeFixture(t, filepath.Join(empty, "proc", "loadavg"), "0 0 0 1/1 1\n")
	_, err := render(t, "mdadm", fixtureConfig(t, empty))
	if !errors.Is(err, collector.ErrNoData) {
		t.Errorf("missing mdstat: err = %v, want ErrNoData", err)
	}
	// A truncated file (an array line without its status lines) is a
	// failure that names the file, not "no data".
	dir := t.TempDir()
	writeFixture(t, filepath.Join(dir, "proc", "mdstat"), "Personalities : [raid1]\nmd0 : active raid1 sdb1[1] sda1[0]\n")
	out, err := render(t, "mdadm", fixtureConfig(t, dir))
	if err == nil || errors.Is(err, collector.ErrNoData) || !strings.Contains(err.Error(), filepath.Join(dir, "proc", "mdstat")) {
		t.Errorf("truncated mdstat: err = %v, want a parse error naming the file", err)
	}
	if strings.TrimSpace(out) != "" {
		t.Errorf("truncated mdstat: partial output:\n%s", out)
	}
}
