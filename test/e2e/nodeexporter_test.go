package e2e

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/panoptes-dev/panoptes/internal/collector/host"
)

// stableFamilies do not move between two scrapes a second apart, so Panoptes
// and node_exporter must report the same series with the same values.
var stableFamilies = []string{
	"node_boot_time_seconds",
	"node_memory_MemTotal_bytes",
	"node_memory_SwapTotal_bytes",
	"node_memory_HugePages_Total",
	"node_filefd_maximum",
	"node_entropy_pool_size_bits",
	"node_nf_conntrack_entries_limit",
	"node_filesystem_size_bytes",
	"node_filesystem_files",
	"node_filesystem_readonly",
	"node_filesystem_device_error",
	"node_uname_info",
	"node_os_info",
	"node_os_version",
	"node_time_clocksource_available_info",
	"node_time_clocksource_current_info",
	"node_time_zone_offset_seconds",
	"node_disk_info",
	"node_scrape_collector_success",
}

// sameSeriesFamilies move, but the set of series (label sets) must match.
var sameSeriesFamilies = []string{
	"node_cpu_seconds_total",
	"node_cpu_guest_seconds_total",
	"node_network_receive_bytes_total",
	"node_network_transmit_packets_total",
	"node_disk_reads_completed_total",
	"node_disk_io_time_seconds_total",
	"node_filesystem_avail_bytes",
	"node_scrape_collector_duration_seconds",
}

// defaultCollectors are the host collectors enabled by default.
func defaultCollectors() []string {
	var names []string
	for _, c := range host.Collectors() {
		if c.DefaultEnabled {
			names = append(names, c.Name)
		}
	}
	return names
}

// TestNodeExporterParity scrapes Panoptes and Debian's node_exporter on the
// same machine with the same collectors and compares families, types, HELP,
// label names and the values that do not move.
func TestNodeExporterParity(t *testing.T) {
	ne := requirePeer(t, "prometheus-node-exporter")
	names := defaultCollectors()

	// node_exporter has no container collector: compare like with like.
	_, ours := startAgent(t, "--no-collector.container")
	neAddr := startNodeExporter(t, ne, names)

	got := scrape(t, ours+"/metrics")
	want := scrape(t, "http://"+neAddr+"/metrics")

	for name, mf := range got {
		if !strings.HasPrefix(name, "node_") {
			continue
		}
		nmf, ok := want[name]
		if !ok {
			t.Errorf("family %s is not in node_exporter's output", name)
			continue
		}
		if mf.GetType() != nmf.GetType() {
			t.Errorf("family %s: type %s, node_exporter has %s", name, mf.GetType(), nmf.GetType())
		}
		if mf.GetHelp() != nmf.GetHelp() {
			t.Errorf("family %s: HELP %q, node_exporter has %q", name, mf.GetHelp(), nmf.GetHelp())
		}
		if g, w := labelNames(mf), labelNames(nmf); !slices.Equal(g, w) {
			t.Errorf("family %s: label names %v, node_exporter has %v", name, g, w)
		}
	}
	for name := range want {
		if strings.HasPrefix(name, "node_") && name != "node_exporter_build_info" {
			if _, ok := got[name]; !ok {
				t.Errorf("node_exporter family %s is missing from Panoptes", name)
			}
		}
	}
	for _, name := range stableFamilies {
		if g, w := seriesValues(got[name]), seriesValues(want[name]); !maps.Equal(g, w) {
			t.Errorf("family %s differs:\n panoptes:      %v\n node_exporter: %v", name, sortedKeys(g, true), sortedKeys(w, true))
		}
	}
	for _, name := range sameSeriesFamilies {
		if g, w := sortedKeys(seriesValues(got[name]), false), sortedKeys(seriesValues(want[name]), false); !slices.Equal(g, w) {
			t.Errorf("family %s has other series:\n panoptes:      %v\n node_exporter: %v", name, g, w)
		}
	}
	for _, m := range got["node_scrape_collector_success"].GetMetric() {
		if m.GetGauge().GetValue() != 1 {
			t.Errorf("collector %s failed on this machine", labelsString(m))
		}
	}
}

// startNodeExporter runs node_exporter with exactly the named collectors on a
// free loopback port and returns its address once it answers.
func startNodeExporter(t *testing.T, path string, collectors []string) string {
	t.Helper()
	addr := freePort(t)
	args := []string{"--web.listen-address=" + addr, "--collector.disable-defaults"}
	for _, n := range collectors {
		args = append(args, "--collector."+n)
	}
	start(t, path, args...)
	waitHTTP(t, "http://"+addr+"/metrics")
	return addr
}

func labelNames(mf *dto.MetricFamily) []string {
	set := map[string]bool{}
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			set[l.GetName()] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

func labelsString(m *dto.Metric) string {
	parts := make([]string, 0, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

// sampleValue is the value of a gauge, counter or untyped sample (0 for
// the other types).
func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

// seriesValues maps each series' label set to its value.
func seriesValues(mf *dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, m := range mf.GetMetric() {
		out[labelsString(m)] = sampleValue(m)
	}
	return out
}

func sortedKeys(m map[string]float64, withValues bool) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		if withValues {
			k = fmt.Sprintf("%s %g", k, v)
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
