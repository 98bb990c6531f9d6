package host

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func TestPowerSupplyClassMatchesNodeExporter(t *testing.T) {
	t.Parallel()
	compareWithNodeExporter(t, "powersupplyclass")
}

// TestPowerSupplyClassIgnored: --collector.powersupply.ignored-supplies
// drops the matching supplies and nothing else.
func TestPowerSupplyClassIgnored(t *testing.T) {
	t.Parallel()
	cfg := fixtureConfig(t, filepath.Join("testdata", "powersupplyclass"))
	cfg.PowerSupplyClass.IgnoredSupplies = `^(hid-.*|ucsi-.*)$`
	out, err := render(t, "powersupplyclass", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "hid-") || strings.Contains(out, "ucsi-") {
		t.Errorf("ignored supplies are reported:\n%s", out)
	}
	for _, want := range []string{`node_power_supply_online{power_supply="AC"} 1`, `node_power_supply_capacity{power_supply="BAT0"} 87`} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s:\n%s", want, out)
		}
	}
	cfg.PowerSupplyClass.IgnoredSupplies = "("
	if _, err := newPowerSupplyClass(cfg, nil); err == nil {
		t.Error("a bad pattern was accepted")
	}
}

// TestPowerSupplyClassNone: no power_supply class is no data; an empty one
// (a server) is success with nothing, as node_exporter reports them.
func TestPowerSupplyClassNone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sys", "class"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := render(t, "powersupplyclass", fixtureConfig(t, dir)); !errors.Is(err, collector.ErrNoData) {
		t.Errorf("no class: err = %v, want ErrNoData", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sys", "class", "power_supply"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := render(t, "powersupplyclass", fixtureConfig(t, dir)); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("empty class: err = %v, output %q", err, out)
	}
}

// TestHardwareFastPath renders each hardware collector's fixture through
// the agent's own exposition path (GroupFamilies, AppendText) and checks
// that it is expfmt's output byte for byte: node_power_supply_info's label
// set differs from one supply to the next, which that path must carry per
// sample.
func TestHardwareFastPath(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"hwmon", "thermal_zone", "cpufreq", "powersupplyclass", "rapl", "edac", "dmi", "nvme"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := fixtureConfig(t, filepath.Join("testdata", name))
			want, err := render(t, name, cfg)
			if err != nil {
				t.Fatal(err)
			}
			cs, err := New([]string{name}, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			var sink collector.Sink
			if err := cs[0].Collector.Update(t.Context(), &sink); err != nil {
				t.Fatal(err)
			}
			var samples []*collector.Sample
			for _, m := range sink.Metrics() {
				samples = append(samples, m.(*collector.Sample))
			}
			fams, dups := collector.GroupFamilies(samples)
			if dups != 0 {
				t.Errorf("%d duplicate series", dups)
			}
			var got []byte
			for _, f := range fams {
				got = f.AppendText(got)
			}
			if diff := cmp.Diff(want, string(got)); diff != "" {
				t.Errorf("fast path differs from expfmt (-expfmt +fast):\n%s", diff)
			}
		})
	}
}
