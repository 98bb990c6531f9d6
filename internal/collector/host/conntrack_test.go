package host

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func TestConntrackNotLoaded(t *testing.T) {
	dir := t.TempDir()
	writeFixture(t, filepath.Join(dir, "proc", "net", "dev"), "")
	out, err := render(t, "conntrack", fixtureConfig(t, dir))
	if !errors.Is(err, collector.ErrNoData) {
		t.Errorf("err = %v, want ErrNoData", err)
	}
	if strings.TrimSpace(out) != "" {
		t.Errorf("output:\n%s", out)
	}
}

// TestConntrackNoStat: without /proc/net/stat/nf_conntrack the table size
// and limit are still reported, with ErrNoData, as node_exporter does.
func TestConntrackNoStat(t *testing.T) {
	dir := t.TempDir()
	nf := filepath.Join(dir, "proc", "sys", "net", "netfilter")
	writeFixture(t, filepath.Join(nf, "nf_conntrack_count"), "3\n")
	writeFixture(t, filepath.Join(nf, "nf_conntrack_max"), "9\n")
	out, err := render(t, "conntrack", fixtureConfig(t, dir))
	if !errors.Is(err, collector.ErrNoData) {
		t.Errorf("err = %v, want ErrNoData", err)
	}
	if !strings.Contains(out, "node_nf_conntrack_entries 3\n") || !strings.Contains(out, "node_nf_conntrack_entries_limit 9\n") {
		t.Errorf("output:\n%s", out)
	}
}

func TestConntrackMalformed(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"count": {"sys/net/netfilter/nf_conntrack_count": "x\n"},
		"stat": {
			"sys/net/netfilter/nf_conntrack_count": "1\n",
			"sys/net/netfilter/nf_conntrack_max":   "2\n",
			"net/stat/nf_conntrack":                "entries\n00000001 zz\n",
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for f, content := range files {
				writeFixture(t, filepath.Join(dir, "proc", f), content)
			}
			_, err := render(t, "conntrack", fixtureConfig(t, dir))
			if err == nil || errors.Is(err, collector.ErrNoData) || !strings.Contains(err.Error(), "read "+dir) {
				t.Errorf("err = %v, want a failure naming the file", err)
			}
		})
	}
}
