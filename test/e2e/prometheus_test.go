package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPromtoolCheckMetrics runs Prometheus's own linter over the agent's
// output. node_exporter's names break two of its naming lints (camelCase in
// node_memory_MemTotal_bytes, the "bits" unit of node_entropy_*), and those
// names are what dashboards query, so a lint problem is accepted only when
// promtool reports the very same problem for node_exporter's output; anything
// else, and every parse error, fails.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := requirePeer(t, "promtool")
	ne := requirePeer(t, "prometheus-node-exporter")
	// The host collectors only: the container collector keeps cAdvisor's
	// names, one of which (container_memory_failcnt, a counter without
	// _total) promtool flags, and there is no cAdvisor here to compare with.
	_, base := startAgent(t, "--no-collector.container")
	_, ours := get(t, base+"/metrics")
	neAddr := startNodeExporter(t, ne, defaultCollectors())
	_, theirs := get(t, "http://"+neAddr+"/metrics")

	accepted := map[string]bool{}
	for _, line := range promtoolProblems(t, promtool, theirs) {
		accepted[line] = true
	}
	for _, line := range promtoolProblems(t, promtool, ours) {
		if !accepted[line] {
			t.Errorf("promtool check metrics: %s", line)
		}
	}
}

// promtoolProblems returns the problems promtool reports, one per line. Exit
// status 3 means lint problems; any other failure is fatal.
func promtoolProblems(t *testing.T, promtool string, exposition []byte) []string {
	t.Helper()
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(string(exposition))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 3) {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	var problems []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" {
			problems = append(problems, line)
		}
	}
	if err != nil && len(problems) == 0 {
		t.Fatalf("promtool check metrics failed without saying why")
	}
	return problems
}

// TestPrometheusScrapesAgent has a real Prometheus scrape the agent and
// checks that the samples arrive and the target is up.
func TestPrometheusScrapesAgent(t *testing.T) {
	prom := requirePeer(t, "prometheus")
	ne := requirePeer(t, "prometheus-node-exporter")
	_, base := startAgent(t)
	target := strings.TrimPrefix(base, "http://")
	neAddr := startNodeExporter(t, ne, defaultCollectors())

	dir := t.TempDir()
	// A 45-collector scrape can take over a second on a loaded 2-core CI
	// machine; a timeout that short would make up 0, not test the agent.
	cfg := fmt.Sprintf(`global:
  scrape_interval: 2s
  scrape_timeout: 2s
scrape_configs:
  - job_name: panoptes
    static_configs:
      - targets: [%q]
  - job_name: node-exporter
    static_configs:
      - targets: [%q]
`, target, neAddr)
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	promAddr := freePort(t)
	start(t, prom, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr)
	waitHTTP(t, "http://"+promAddr+"/-/ready")

	// In order: the first waits for a scrape of each, so the rest read
	// scraped data, not an empty database.
	queries := []struct{ q, want string }{
		{`count(up{job=~"panoptes|node-exporter"} == 1)`, "2"},
		{`count(node_cpu_seconds_total{job="panoptes",mode="idle"}) > 0`, ""},
		{`node_scrape_collector_success{job="panoptes",collector="meminfo"}`, "1"},
	}
	deadline := time.Now().Add(90 * time.Second)
	for _, c := range queries {
		for {
			v, ok := instantValue(t, promAddr, c.q)
			if ok && (c.want == "" || v == c.want) {
				break
			}
			if time.Now().After(deadline) {
				_, targets := get(t, "http://"+promAddr+"/api/v1/targets")
				t.Fatalf("query %s: got %q (present %v), want %q\ntargets: %s", c.q, v, ok, c.want, targets)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}

	// A collector whose hardware this machine lacks (bonding, hwmon, nvme,
	// ...) reports success 0, as node_exporter's does: the set that
	// failed must be node_exporter's on the same host, no more.
	failed := func(job string) []string {
		var names []string
		for _, s := range instantQuery(t, "http://"+promAddr, `node_scrape_collector_success{job="`+job+`"} == 0`) {
			names = append(names, s.Metric["collector"])
		}
		slices.Sort(names)
		return names
	}
	ours, theirs := failed("panoptes"), failed("node-exporter")
	if !slices.Equal(ours, theirs) {
		t.Errorf("collectors with success 0: panoptes %v, node_exporter %v", ours, theirs)
	}
	for _, must := range []string{"cpu", "meminfo", "diskstats", "filesystem", "netdev", "textfile"} {
		if slices.Contains(ours, must) {
			t.Errorf("collector %s failed on this host", must)
		}
	}
}

// instantValue returns the value of the first sample of an instant query.
func instantValue(t *testing.T, addr, query string) (string, bool) {
	t.Helper()
	_, body := get(t, "http://"+addr+"/api/v1/query?query="+url.QueryEscape(query))
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("decode query response %s: %v", body, err)
	}
	if r.Status != "success" || len(r.Data.Result) == 0 {
		return "", false
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	return s, true
}
