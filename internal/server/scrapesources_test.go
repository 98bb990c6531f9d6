package server

import (
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/config"
)

type staticSource map[string][]byte

func (s staticSource) ScrapeConfigs() map[string][]byte { return s }

// TestWithSourceJobs: the sources' jobs follow the file's, take its global
// defaults, and a job that clashes with the file's or does not fit its
// globals is left out while the others load.
func TestWithSourceJobs(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(`
global:
  scrape_interval: 10s
scrape_configs:
  - job_name: file
    static_configs: [{targets: [a:1]}]
  - job_name: serviceMonitor/ns/clash/0
    static_configs: [{targets: [b:1]}]
`, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{logger: slog.New(slog.DiscardHandler), opts: Options{ScrapeSources: []ScrapeSource{staticSource{
		"serviceMonitor/ns/b":     []byte("- job_name: serviceMonitor/ns/b/0\n  static_configs: [{targets: [c:1]}]\n"),
		"serviceMonitor/ns/a":     []byte("- job_name: serviceMonitor/ns/a/0\n  static_configs: [{targets: [d:1]}]\n- job_name: serviceMonitor/ns/a/1\n  scrape_timeout: 30s\n  static_configs: [{targets: [e:1]}]\n"),
		"serviceMonitor/ns/clash": []byte("- job_name: serviceMonitor/ns/clash/0\n  static_configs: [{targets: [f:1]}]\n"),
	}}}}
	s.withSourceJobs(cfg)
	scs, err := cfg.GetScrapeConfigs()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sc := range scs {
		names = append(names, sc.JobName)
	}
	want := []string{"file", "serviceMonitor/ns/clash/0", "serviceMonitor/ns/a/0", "serviceMonitor/ns/b/0"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("jobs (-want +got):\n%s", diff)
	}
	if got := scs[2].ScrapeInterval.String(); got != "10s" {
		t.Errorf("a source's job has scrape_interval %s, want the global 10s", got)
	}
	if got := scs[1].ServiceDiscoveryConfigs; len(got) != 1 {
		t.Errorf("the file's clashing job was replaced: %v", got)
	}
}
