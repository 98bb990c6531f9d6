package host

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func TestParseIPVSLabels(t *testing.T) {
	t.Parallel()
	got, err := parseIPVSLabels("proto,local_address,,local_port")
	if err != nil || strings.Join(got, ",") != "local_address,local_port,proto" {
		t.Errorf("got %v, %v; want canonical order", got, err)
	}
	if _, err := parseIPVSLabels("proto,bogus,zz"); err == nil || !strings.Contains(err.Error(), `"bogus, zz"`) {
		t.Errorf("err = %v, want the unknown labels named", err)
	}
	if got, err := parseIPVSLabels(""); err != nil || len(got) != 0 {
		t.Errorf("empty: %v, %v", got, err)
	}
}

// TestIPVSBackendLabelsSum: with only proto and local_port, backends of
// services that share them are summed into one series, as node_exporter does.
func TestIPVSBackendLabelsSum(t *testing.T) {
	t.Parallel()
	cfg := fixtureConfig(t, filepath.Join("testdata", "ipvs"))
	cfg.IPVS.BackendLabels = "local_port,proto"
	out, err := render(t, "ipvs", cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		// 12+9+0 on 10.96.0.200:443 and 4 on [fd00::60:c8]:443.
		`node_ipvs_backend_connections_active{local_port="443",proto="TCP"} 25`,
		`node_ipvs_backend_weight{local_port="0",proto="FWM"} 30`,
		`node_ipvs_backend_connections_inactive{local_port="53",proto="UDP"} 0`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
}

// TestIPVSNotLoaded: no ip_vs module is no data, not an error.
func TestIPVSNotLoaded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFixture(t, filepath.Join(dir, "proc", "net", "dev"), "")
	if _, err := render(t, "ipvs", fixtureConfig(t, dir)); !errors.Is(err, collector.ErrNoData) {
		t.Errorf("err = %v, want ErrNoData", err)
	}
}

// TestIPVSCorrupt: a malformed backend table fails the collector after the
// totals, naming the file.
func TestIPVSCorrupt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, _ := readTrimmed(filepath.Join("testdata", "ipvs", "proc", "net", "ip_vs_stats"))
	writeFixture(t, filepath.Join(dir, "proc", "net", "ip_vs_stats"), b+"\n")
	writeFixture(t, filepath.Join(dir, "proc", "net", "ip_vs"), "TCP 0A6000C8:01BB rr\n  -> 0A01:20FB Masq 1 2 3\n")
	out, err := render(t, "ipvs", fixtureConfig(t, dir))
	if err == nil || errors.Is(err, collector.ErrNoData) || !strings.Contains(err.Error(), "ip_vs") {
		t.Errorf("err = %v, want a parse failure naming ip_vs", err)
	}
	if !strings.Contains(out, "node_ipvs_connections_total 115433\n") {
		t.Errorf("totals missing:\n%s", out)
	}
}
