package host

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

const metricsDoc = "../../../docs/metrics/host.md"

// TestMetricsDoc keeps docs/metrics/host.md, the list of every family each
// host collector exports, in step with the collectors: it is generated from
// the golden outputs (go test -run TestMetricsDoc -update rewrites it).
func TestMetricsDoc(t *testing.T) {
	var b strings.Builder
	b.WriteString("# Host metrics\n\n")
	b.WriteString("Generated from `internal/collector/host/testdata/*/want.prom` by `go test ./internal/collector/host -run TestMetricsDoc -update`; do not edit.\n")
	b.WriteString("Every family has node_exporter 1.5's name, type, labels and HELP. Each collector also reports\n")
	b.WriteString("`node_scrape_collector_duration_seconds{collector}` and `node_scrape_collector_success{collector}`.\n")
	for _, info := range Collectors() {
		f, err := os.Open(filepath.Join("testdata", info.Name, "want.prom"))
		if err != nil {
			t.Fatal(err)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		mfs, err := p.TextToMetricFamilies(f)
		_ = f.Close()
		if err != nil {
			t.Fatalf("%s/want.prom: %v", info.Name, err)
		}
		state := "on"
		if !info.DefaultEnabled {
			state = "off"
		}
		fmt.Fprintf(&b, "\n## %s (default %s)\n\n| metric | type | labels | help |\n|---|---|---|---|\n", info.Name, state)
		for _, name := range slices.Sorted(maps.Keys(mfs)) {
			mf := mfs[name]
			labels := map[string]bool{}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = true
				}
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", name, strings.ToLower(mf.GetType().String()),
				strings.Join(slices.Sorted(maps.Keys(labels)), ", "), strings.ReplaceAll(mf.GetHelp(), "|", `\|`))
		}
	}
	got := b.String()
	if *update {
		if err := os.MkdirAll(filepath.Dir(metricsDoc), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(metricsDoc, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(metricsDoc)
	if err != nil {
		t.Fatalf("read %s (go test -run TestMetricsDoc -update writes it): %v", metricsDoc, err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s is stale; rerun with -update (-file +generated):\n%s", metricsDoc, diff)
	}
}
