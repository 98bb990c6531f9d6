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
)

// textfileParityFiles model what cron jobs and scripts leave in a textfile
// directory: healthy files, a family two jobs publish without HELP, one
// published with another HELP and TYPE (conflict), a repeated series, and
// broken files (a writer cut mid-line, invalid UTF-8, client-side
// timestamps), plus files that are not *.prom.
var textfileParityFiles = map[string]string{
	"apt.prom": "# HELP apt_upgrades_pending Apt packages pending updates by origin.\n# TYPE apt_upgrades_pending gauge\n" +
		"apt_upgrades_pending{origin=\"Debian:bookworm/stable\",arch=\"amd64\"} 12\napt_upgrades_pending{origin=\"Debian:bookworm-security/stable-security\",arch=\"amd64\"} 3\n" +
		"# HELP node_reboot_required Node reboot is required for software updates.\n# TYPE node_reboot_required gauge\nnode_reboot_required 0\n",
	"backup.prom": "# HELP backup_runs_total Backup runs by result.\n# TYPE backup_runs_total counter\nbackup_runs_total{result=\"ok\"} 412\nbackup_runs_total{result=\"failed\"} 3\n" +
		"# HELP backup_duration_seconds How long backup runs took.\n# TYPE backup_duration_seconds histogram\n" +
		"backup_duration_seconds_bucket{le=\"60\"} 2\nbackup_duration_seconds_bucket{le=\"300\"} 380\nbackup_duration_seconds_sum 71234.5\nbackup_duration_seconds_count 415\n" +
		"# HELP backup_size_bytes Size of the archives.\n# TYPE backup_size_bytes summary\nbackup_size_bytes{quantile=\"0.5\"} 4.2e+09\nbackup_size_bytes_sum 1.7e+12\nbackup_size_bytes_count 412\n",
	"cron_a.prom":   "cron_job_runs{job=\"logrotate\"} 31\n",
	"cron_b.prom":   "cron_job_runs{job=\"certbot\"} 2\n",
	"conflict.prom": "# HELP node_reboot_required Another help.\n# TYPE node_reboot_required untyped\nnode_reboot_required{reason=\"kernel\"} 1\n# HELP disk_ok Disk is fine.\n# TYPE disk_ok gauge\ndisk_ok 1\n",
	"dup.prom":      "# HELP apt_upgrades_pending Apt packages pending updates by origin.\n# TYPE apt_upgrades_pending gauge\napt_upgrades_pending{origin=\"Debian:bookworm/stable\",arch=\"amd64\"} 99\n",
	"partial.prom":  "# TYPE half gauge\nhalf{a=\"1\"} 1\nhalf{a=\"2",
	"utf8.prom":     "bad_utf8{a=\"\xff\xfe\"} 1\n",
	"stamped.prom":  "stamped 1 1700000000000\n",
	"notes.txt":     "ignored 1\n",
	"old.prom.bak":  "ignored_too 1\n",
}

// TestTextfileParity points Panoptes and node_exporter 1.5 at the same
// textfile directory and compares node_textfile_* and every imported family
// (HELP, TYPE, series and values), and then the same after the directory
// vanishes.
func TestTextfileParity(t *testing.T) {
	ne := requirePeer(t, "prometheus-node-exporter")
	dir := filepath.Join(t.TempDir(), "textfile")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range textfileParityFiles {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, ours := startAgent(t, "--collector.disable-defaults", "--no-collector.container", "--collector.textfile", "--collector.textfile.directory="+dir)
	neAddr := freePort(t)
	start(t, ne, "--web.listen-address="+neAddr, "--collector.disable-defaults", "--collector.textfile", "--collector.textfile.directory="+dir)
	waitHTTP(t, "http://"+neAddr+"/metrics")

	compare := func(when string) {
		got := textfileView(scrape(t, ours+"/metrics"))
		want := textfileView(scrape(t, "http://"+neAddr+"/metrics"))
		for _, name := range slices.Sorted(maps.Keys(want)) {
			if got[name] != want[name] {
				t.Errorf("%s: %s differs\n panoptes:      %s\n node_exporter: %s", when, name, got[name], want[name])
			}
		}
		for _, name := range slices.Sorted(maps.Keys(got)) {
			if _, ok := want[name]; !ok {
				t.Errorf("%s: %s only in Panoptes: %s", when, name, got[name])
			}
		}
		if len(want) < 3 {
			t.Fatalf("%s: node_exporter served too little to compare: %v", when, want)
		}
	}
	compare("shared directory")
	if v := textfileView(scrape(t, ours+"/metrics"))["node_textfile_scrape_error{}"]; v != "1" {
		t.Errorf("the broken files did not set node_textfile_scrape_error 1: %s", v)
	}

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	compare("directory removed")
}

// textfileView lists what the textfile collector produces in a form both
// sides must agree on: "name{labels}" -> value for every sample, "HELP name"
// and "TYPE name" per sample name. Empty labels are dropped (Prometheus drops
// them on ingestion; node_exporter prints a label that only a file's other
// series have as "", Panoptes also one that only another file's series
// have). Histograms and summaries count as untyped: the agent serves them as
// their untyped _bucket/_sum/_count (and quantile) series (README).
func textfileView(mfs map[string]*dto.MetricFamily) map[string]string {
	out := map[string]string{}
	for name, mf := range mfs {
		switch {
		case strings.HasPrefix(name, "node_") && !strings.HasPrefix(name, "node_textfile_") && name != "node_reboot_required",
			strings.HasPrefix(name, "go_"), strings.HasPrefix(name, "process_"), strings.HasPrefix(name, "promhttp_"),
			strings.HasSuffix(name, "_build_info"):
			continue
		}
		typ := mf.GetType()
		if typ == dto.MetricType_HISTOGRAM || typ == dto.MetricType_SUMMARY {
			typ = dto.MetricType_UNTYPED
		}
		for _, s := range flatSeries(mf) {
			out[s.key] = s.value
			out["HELP "+s.name] = mf.GetHelp()
			out["TYPE "+s.name] = typ.String()
		}
	}
	return out
}

type flat struct{ name, key, value string }

// flatSeries lists a family's samples as the text format writes them,
// histograms and summaries expanded, without empty labels.
func flatSeries(mf *dto.MetricFamily) []flat {
	var out []flat
	add := func(name string, labels []*dto.LabelPair, value float64, extra ...string) {
		var parts []string
		for _, l := range labels {
			if l.GetValue() != "" {
				parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
		}
		for i := 0; i+1 < len(extra); i += 2 {
			parts = append(parts, fmt.Sprintf("%s=%q", extra[i], extra[i+1]))
		}
		sort.Strings(parts)
		out = append(out, flat{name, name + "{" + strings.Join(parts, ",") + "}", fmt.Sprint(value)})
	}
	for _, m := range mf.GetMetric() {
		name := mf.GetName()
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			add(name, m.GetLabel(), m.GetCounter().GetValue())
		case dto.MetricType_GAUGE:
			add(name, m.GetLabel(), m.GetGauge().GetValue())
		case dto.MetricType_UNTYPED:
			add(name, m.GetLabel(), m.GetUntyped().GetValue())
		case dto.MetricType_HISTOGRAM:
			h := m.GetHistogram()
			for _, b := range h.GetBucket() {
				add(name+"_bucket", m.GetLabel(), float64(b.GetCumulativeCount()), "le", fmt.Sprint(b.GetUpperBound()))
			}
			add(name+"_sum", m.GetLabel(), h.GetSampleSum())
			add(name+"_count", m.GetLabel(), float64(h.GetSampleCount()))
		case dto.MetricType_SUMMARY:
			s := m.GetSummary()
			for _, q := range s.GetQuantile() {
				add(name, m.GetLabel(), q.GetValue(), "quantile", fmt.Sprint(q.GetQuantile()))
			}
			add(name+"_sum", m.GetLabel(), s.GetSampleSum())
			add(name+"_count", m.GetLabel(), float64(s.GetSampleCount()))
		}
	}
	return out
}
