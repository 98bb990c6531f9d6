package e2e

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/panoptes-dev/panoptes/internal/collector/host"
)

// stableFamilies do not move between two scrapes a second apart, so Panoptes
// and node_exporter must report the same series with the same values. A
// family neither side exports on this machine (no hwmon chip, no cpufreq
// driver) compares equal; one that only one side exports is reported by the
// family check instead.
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
	// netclass: link properties, fixed while nobody reconfigures a NIC.
	"node_network_mtu_bytes",
	"node_network_speed_bytes",
	"node_network_info",
	"node_network_up",
	"node_network_address_assign_type",
	"node_network_device_id",
	"node_network_flags",
	"node_network_iface_id",
	"node_network_iface_link",
	"node_network_iface_link_mode",
	"node_network_name_assign_type",
	"node_network_protocol_type",
	"node_network_transmit_queue_length",
	"node_network_dormant",
	// hardware inventory, when this machine has it.
	"node_hwmon_chip_names",
	"node_hwmon_sensor_label",
	"node_cpu_frequency_max_hertz",
	"node_cpu_frequency_min_hertz",
	"node_cpu_scaling_frequency_max_hertz",
	"node_cpu_scaling_frequency_min_hertz",
	"node_dmi_info",
	"node_power_supply_info",
	"node_nvme_info",
	"node_thermal_zone_temp_info",
	"node_cooling_device_max_state",
	"node_selinux_enabled",
	"node_selinux_config_mode",
	"node_selinux_current_mode",
	"node_edac_correctable_errors_total",
	"node_rapl_package_joules_total_info",
	// textfile: the directory the test writes.
	"node_textfile_scrape_error",
	"node_textfile_mtime_seconds",
	"parity_test_info",
}

// sameSeriesFamilies move, but the set of series (label sets) must match.
var sameSeriesFamilies = []string{
	"node_cpu_seconds_total",
	"node_cpu_guest_seconds_total",
	"node_network_receive_bytes_total",
	"node_network_transmit_packets_total",
	"node_network_carrier_changes_total",
	"node_disk_reads_completed_total",
	"node_disk_io_time_seconds_total",
	"node_filesystem_avail_bytes",
	"node_scrape_collector_duration_seconds",
	"node_softnet_processed_total",
	"node_udp_queues",
	"node_arp_entries",
	"node_cpu_scaling_frequency_hertz",
	"node_hwmon_temp_celsius",
	"node_thermal_zone_temp",
}

// oursOnly are the families Panoptes exports that node_exporter 1.5 does
// not, each with the reason; every other node_* or process_* family of ours
// must exist in node_exporter's output.
var oursOnly = map[string]string{
	"process_network_receive_bytes_total":  "client_golang 1.21+'s process collector; node_exporter 1.5 links client_golang 1.13",
	"process_network_transmit_bytes_total": "client_golang 1.21+'s process collector; node_exporter 1.5 links client_golang 1.13",
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

// hasCollector reports whether Panoptes has a host collector of that name.
func hasCollector(name string) bool {
	for _, c := range host.Collectors() {
		if c.Name == name {
			return true
		}
	}
	return false
}

// comparedFamily reports whether the parity test compares the family: the
// host families, the process_* families dashboards read for the exporter
// itself, and the build info.
func comparedFamily(name string) bool {
	return strings.HasPrefix(name, "node_") || strings.HasPrefix(name, "process_")
}

// TestNodeExporterParity scrapes Panoptes and Debian's node_exporter 1.5, each
// with ALL its default collectors, on the same machine and compares, in both
// directions, every node_* and process_* family (type, HELP, label names),
// the collectors each side runs, and the values that do not move. A
// collector node_exporter runs by default and Panoptes lacks shows up as a
// failure naming it.
func TestNodeExporterParity(t *testing.T) {
	ne := requirePeer(t, "prometheus-node-exporter")

	// The same textfile directory on both sides, with one file, so that the
	// textfile collector is compared on real input rather than on an absent
	// directory.
	textDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(textDir, "parity.prom"),
		[]byte("# HELP parity_test_info Written by TestNodeExporterParity.\n# TYPE parity_test_info gauge\nparity_test_info{source=\"textfile\"} 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// node_exporter has no container collector: compare like with like.
	agentArgs := []string{"--no-collector.container"}
	if hasCollector("textfile") {
		agentArgs = append(agentArgs, "--collector.textfile.directory="+textDir)
	}
	_, ours := startAgent(t, agentArgs...)
	neAddr := startNodeExporterDefaults(t, ne, "--collector.textfile.directory="+textDir)

	got := scrape(t, ours+"/metrics")
	want := scrape(t, "http://"+neAddr+"/metrics")

	// Collectors first: the clearest message names the collector.
	gotC, wantC := collectorsRun(got), collectorsRun(want)
	var missingCollectors []string
	for _, name := range wantC {
		if !slices.Contains(gotC, name) {
			missingCollectors = append(missingCollectors, name)
		}
	}
	if len(missingCollectors) > 0 {
		t.Errorf("node_exporter 1.5 runs these collectors by default, Panoptes does not: %v", missingCollectors)
	}
	for _, name := range gotC {
		if !slices.Contains(wantC, name) {
			t.Errorf("Panoptes runs collector %s by default, node_exporter 1.5 does not", name)
		}
	}

	var missing []string // node_exporter's families that Panoptes lacks, for the summary
	for name, mf := range got {
		if !comparedFamily(name) {
			continue
		}
		nmf, ok := want[name]
		if !ok {
			if _, allowed := oursOnly[name]; !allowed {
				t.Errorf("family %s is not in node_exporter's output (add it to oursOnly with a reason if that is intended)", name)
			}
			continue
		}
		compareFamily(t, mf, nmf)
	}
	for name := range want {
		if comparedFamily(name) {
			if _, ok := got[name]; !ok {
				missing = append(missing, name)
			}
		}
	}
	slices.Sort(missing)
	for _, name := range missing {
		t.Errorf("node_exporter family %s is missing from Panoptes (collector %s)", name, familyCollector(name))
	}
	// The textfile's own family, which is not node_*: both sides must
	// serve what the file says.
	if hasCollector("textfile") {
		for side, mfs := range map[string]map[string]*dto.MetricFamily{"Panoptes": got, "node_exporter": want} {
			if mfs["parity_test_info"] == nil {
				t.Errorf("%s does not serve parity_test_info from the textfile directory", side)
			}
		}
	}
	for name := range oursOnly {
		if _, ok := want[name]; ok {
			t.Errorf("oursOnly lists %s, but node_exporter exports it: drop it from the list", name)
		}
	}

	// Values: a concurrent test on this machine may mount a file system or
	// add an interface between the two scrapes, so a difference is checked
	// again on fresh scrapes, and only one that persists is reported.
	both := commonCollectors(gotC, wantC)
	diffs := valueDiffs(got, want, both)
	for attempt := 0; len(diffs) > 0 && attempt < 3; attempt++ {
		diffs = valueDiffs(scrape(t, ours+"/metrics"), scrape(t, "http://"+neAddr+"/metrics"), both)
	}
	for _, d := range diffs {
		t.Error(d)
	}
	t.Logf("compared %d families of Panoptes with %d of node_exporter; %d collectors on both sides",
		countCompared(got), countCompared(want), len(gotC)-len(missingCollectors))
}

// valueDiffs compares the stable families' values and the other families'
// series between the two sides, keeping to the collectors both run.
func valueDiffs(got, want map[string]*dto.MetricFamily, collectors []string) []string {
	var out []string
	for _, name := range stableFamilies {
		if got[name] == nil || want[name] == nil {
			continue // absent on one side: reported as a missing family; on both: nothing to compare
		}
		g, w := seriesValues(got[name], collectors), seriesValues(want[name], collectors)
		if !maps.Equal(g, w) {
			out = append(out, fmt.Sprintf("family %s differs:\n panoptes:      %v\n node_exporter: %v", name, sortedKeys(g, true), sortedKeys(w, true)))
		}
	}
	for _, name := range sameSeriesFamilies {
		if got[name] == nil || want[name] == nil {
			continue
		}
		g, w := sortedKeys(seriesValues(got[name], collectors), false), sortedKeys(seriesValues(want[name], collectors), false)
		if !slices.Equal(g, w) {
			out = append(out, fmt.Sprintf("family %s has other series:\n panoptes:      %v\n node_exporter: %v", name, g, w))
		}
	}
	return out
}

func commonCollectors(a, b []string) []string {
	var out []string
	for _, c := range a {
		if slices.Contains(b, c) {
			out = append(out, c)
		}
	}
	return out
}

// compareFamily checks that a family of ours has node_exporter's type, HELP
// and label names.
func compareFamily(t *testing.T, mf, nmf *dto.MetricFamily) {
	t.Helper()
	name := mf.GetName()
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

// collectorsRun lists the collector label values of
// node_scrape_collector_success: the collectors that side ran.
func collectorsRun(mfs map[string]*dto.MetricFamily) []string {
	var out []string
	for _, m := range mfs["node_scrape_collector_success"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "collector" {
				out = append(out, l.GetValue())
			}
		}
	}
	slices.Sort(out)
	return out
}

func countCompared(mfs map[string]*dto.MetricFamily) int {
	n := 0
	for name := range mfs {
		if comparedFamily(name) {
			n++
		}
	}
	return n
}

// familyPrefixes name the node_exporter collector behind a family prefix, so
// that a missing family's message says whose it is. Longest prefix wins.
var familyPrefixes = map[string]string{
	"node_network_":                      "netclass",
	"node_network_receive_":              "netdev",
	"node_network_transmit_":             "netdev",
	"node_network_transmit_queue_length": "netclass",
	"node_textfile_":                     "textfile",
	"node_hwmon_":                        "hwmon",
	"node_thermal_zone_":                 "thermal_zone",
	"node_cooling_device_":               "thermal_zone",
	"node_cpu_frequency_":                "cpufreq",
	"node_cpu_scaling_":                  "cpufreq",
	"node_power_supply_":                 "powersupplyclass",
	"node_rapl_":                         "rapl",
	"node_edac_":                         "edac",
	"node_watchdog_":                     "watchdog",
	"node_dmi_":                          "dmi",
	"node_nvme_":                         "nvme",
	"node_arp_":                          "arp",
	"node_softnet_":                      "softnet",
	"node_udp_queues":                    "udp_queues",
	"node_bonding_":                      "bonding",
	"node_infiniband_":                   "infiniband",
	"node_fibrechannel_":                 "fibrechannel",
	"node_ipvs_":                         "ipvs",
	"node_md_":                           "mdadm",
	"node_bcache_":                       "bcache",
	"node_btrfs_":                        "btrfs",
	"node_xfs_":                          "xfs",
	"node_zfs_":                          "zfs",
	"node_tape_":                         "tapestats",
	"node_nfs_":                          "nfs",
	"node_nfsd_":                         "nfsd",
	"node_schedstat_":                    "schedstat",
	"node_selinux_":                      "selinux",
	"node_exporter_":                     "the agent's build info",
	"process_":                           "the agent's process collector",
	"node_systemd_":                      "systemd",
	"node_cgroups_":                      "cgroups",
	"node_perf_":                         "perf",
	"node_processes_":                    "processes",
	"node_scrape_":                       "the collector runner",
	"node_disk_":                         "diskstats",
	"node_filesystem_":                   "filesystem",
	"node_memory_":                       "meminfo",
	"node_vmstat_":                       "vmstat",
	"node_netstat_":                      "netstat",
	"node_sockstat_":                     "sockstat",
	"node_cpu_":                          "cpu",
	"node_pressure_":                     "pressure",
	"node_time":                          "time / timex",
	"node_nf_conntrack_":                 "conntrack",
	"node_filefd_":                       "filefd",
	"node_entropy_":                      "entropy",
	"node_os_":                           "os",
	"node_uname_":                        "uname",
	"node_load":                          "loadavg",
}

// familyCollector guesses the collector of a family from its prefix.
func familyCollector(name string) string {
	best, who := "", "unknown"
	for p, c := range familyPrefixes {
		if strings.HasPrefix(name, p) && len(p) > len(best) {
			best, who = p, c
		}
	}
	return who
}

// startNodeExporterDefaults runs node_exporter with all its default
// collectors, as a user runs it, on a free loopback port, and returns its
// address once it answers. Debian enables the systemd collector by default
// (a Debian patch); upstream node_exporter 1.5, the reference, does not,
// so it is turned off here.
func startNodeExporterDefaults(t *testing.T, path string, args ...string) string {
	t.Helper()
	addr := freePort(t)
	start(t, path, append([]string{"--web.listen-address=" + addr, "--no-collector.systemd"}, args...)...)
	waitHTTP(t, "http://"+addr+"/metrics")
	return addr
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

// seriesValues maps each series' label set to its value. Series with a
// collector label (node_scrape_collector_*) are kept only for the named
// collectors, when collectors is not nil.
func seriesValues(mf *dto.MetricFamily, collectors []string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range mf.GetMetric() {
		if c, ok := labelValue(m, "collector"); ok && collectors != nil && !slices.Contains(collectors, c) {
			continue
		}
		out[labelsString(m)] = sampleValue(m)
	}
	return out
}

func labelValue(m *dto.Metric, name string) (string, bool) {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue(), true
		}
	}
	return "", false
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
