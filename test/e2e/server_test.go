package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
)

// apiResult is the part of a Prometheus API answer the tests read.
type apiResult struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Data      json.RawMessage `json:"data"`
}

type vectorSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// instantQuery runs a PromQL instant query and returns the vector.
func instantQuery(t *testing.T, base, expr string) []vectorSample {
	t.Helper()
	resp, body := get(t, base+"/api/v1/query?query="+url.QueryEscape(expr))
	var r apiResult
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("query %s: HTTP %d, not JSON: %s", expr, resp.StatusCode, body)
	}
	if r.Status != "success" {
		t.Fatalf("query %s: %s: %s", expr, r.ErrorType, r.Error)
	}
	var data struct {
		ResultType string         `json:"resultType"`
		Result     []vectorSample `json:"result"`
	}
	if err := json.Unmarshal(r.Data, &data); err != nil {
		t.Fatalf("query %s: %v", expr, err)
	}
	if data.ResultType != "vector" {
		t.Fatalf("query %s: result type %s, want vector", expr, data.ResultType)
	}
	return data.Result
}

// waitQuery polls an instant query until it returns at least one sample
// for which ok holds (ok nil: any sample).
func waitQuery(t *testing.T, base, expr string, timeout time.Duration, ok func([]vectorSample) bool) []vectorSample {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last []vectorSample
	for time.Now().Before(deadline) {
		last = instantQuery(t, base, expr)
		if len(last) > 0 && (ok == nil || ok(last)) {
			return last
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("query %s: no satisfying answer within %s; last: %v", expr, timeout, last)
	return nil
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestServerScrapesAgent: the server scrapes a real agent, the lean build
// the DaemonSet ships, from a prometheus.yml with relabelling (see
// serverScrapes).
func TestServerScrapesAgent(t *testing.T) {
	t.Parallel()
	_, agentURL := startAgent(t, "--no-collector.container")
	serverScrapes(t, "panoptes", strings.TrimPrefix(agentURL, "http://"))
}

// TestServerScrapesNodeExporter: the server scrapes a real node_exporter
// as it scrapes the agent (see serverScrapes).
func TestServerScrapesNodeExporter(t *testing.T) {
	t.Parallel()
	ne := requirePeer(t, "prometheus-node-exporter")
	neAddr := freePort(t)
	start(t, ne, "--web.listen-address="+neAddr, "--collector.disable-defaults", "--collector.cpu", "--collector.meminfo", "--collector.loadavg")
	waitHTTP(t, "http://"+neAddr+"/metrics")
	serverScrapes(t, "node_exporter", neAddr)
}

// serverScrapes runs the server on a prometheus.yml with relabelling that
// scrapes target (labelled flavour) and a target that relabel_configs drop:
// the target is up, relabel_configs add a label and drop the other target,
// and metric_relabel_configs drop a family.
func serverScrapes(t *testing.T, flavour, target string) {
	t.Helper()
	dir := t.TempDir()
	cfg := writeFile(t, dir, "prometheus.yml", fmt.Sprintf(`
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: [%[1]q]
        labels: {flavour: %[2]s}
      - targets: ["127.0.0.1:1"]
        labels: {flavour: dropme}
    relabel_configs:
      - source_labels: [flavour]
        regex: dropme
        action: drop
      - source_labels: [flavour]
        target_label: team
        replacement: infra-$1
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: node_load15
        action: drop
`, target, flavour))
	_, base := startServer(t, "--config.file="+cfg)

	up := waitQuery(t, base, `up{job="node"} == 1`, 30*time.Second, nil)
	if len(up) != 1 || up[0].Metric["team"] != "infra-"+flavour {
		t.Errorf("up: %v, want one target with team infra-%s", up, flavour)
	}
	if s := instantQuery(t, base, `up{flavour="dropme"}`); len(s) != 0 {
		t.Errorf("the target dropped by relabel_configs was scraped: %v", s)
	}
	waitQuery(t, base, `node_load1{team="infra-`+flavour+`"}`, 30*time.Second, nil)
	if s := instantQuery(t, base, `node_load15`); len(s) != 0 {
		t.Errorf("node_load15 was dropped by metric_relabel_configs but is stored: %v", s)
	}
	if s := instantQuery(t, base, `node_load5`); len(s) != 1 {
		t.Errorf("node_load5: %d series, want 1", len(s))
	}

	resp, body := get(t, base+"/api/v1/targets?state=dropped")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "dropme") {
		t.Errorf("/api/v1/targets?state=dropped does not list the dropped target: %s", body)
	}
}

// TestServerDurabilityAfterKill: samples acknowledged by the remote-write
// receiver are in the WAL, so a kill -9 and a restart on the same directory
// lose none of them.
func TestServerDurabilityAfterKill(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, base := startServer(t, "--web.enable-remote-write-receiver", "--storage.tsdb.path="+dir)

	const series, points = 20, 60
	end := time.Now().Add(-time.Minute).Truncate(time.Second)
	startTs := end.Add(-points * 15 * time.Second)
	req := &prompb.WriteRequest{}
	for s := range series {
		ts := prompb.TimeSeries{Labels: []prompb.Label{
			{Name: "__name__", Value: "durable_total"},
			{Name: "series", Value: fmt.Sprint(s)},
		}}
		for i := range points {
			ts.Samples = append(ts.Samples, prompb.Sample{
				Timestamp: startTs.Add(time.Duration(i) * 15 * time.Second).UnixMilli(),
				Value:     float64(s*1000 + i),
			})
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	if err := oraclePush(base, req); err != nil {
		t.Fatalf("remote write: %v", err)
	}

	if err := p.cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown, no flush
		t.Fatal(err)
	}
	<-p.done

	_, base = startServer(t, "--web.enable-remote-write-receiver", "--storage.tsdb.path="+dir)
	at := fmt.Sprintf("%d", end.Unix())
	q := url.Values{"query": {"count_over_time(durable_total[1h])"}, "time": {at}}
	resp, body := get(t, base+"/api/v1/query?"+q.Encode())
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []vectorSample `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil || resp.StatusCode != 200 {
		t.Fatalf("query after restart: HTTP %d: %s", resp.StatusCode, body)
	}
	if len(r.Data.Result) != series {
		t.Fatalf("after kill -9 and restart: %d series, want %d", len(r.Data.Result), series)
	}
	for _, s := range r.Data.Result {
		if s.Value[1] != fmt.Sprint(points) {
			t.Errorf("series %s: %v samples after restart, want %d", s.Metric["series"], s.Value[1], points)
		}
	}
	// The last value of each series is the last one written.
	q = url.Values{"query": {`durable_total{series="7"}`}, "time": {at}}
	_, body = get(t, base+"/api/v1/query?"+q.Encode())
	if want := fmt.Sprintf(`"%d"`, 7*1000+points-1); !strings.Contains(string(body), want) {
		t.Errorf("durable_total{series=\"7\"} at the end: %s, want value %s", body, want)
	}
}

// TestAllInOne: `panoptes` with no subcommand collects this host into its
// own storage, in-process, within one interval, monitors itself, and prints
// the URL to open.
func TestAllInOne(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, base := waitListening(t, start(t, panoptesBin, "--listen=127.0.0.1:0", "--storage.tsdb.path="+dir,
		"--collector.interval=1s", "--no-collector.container"), "panoptes")

	waitQuery(t, base, `up{job="node"} == 1`, 20*time.Second, nil)
	cpu := waitQuery(t, base, `count(node_cpu_seconds_total{mode="idle"})`, 20*time.Second, nil)
	if cpu[0].Value[1] == "0" {
		t.Errorf("no CPU series: %v", cpu)
	}
	waitQuery(t, base, `node_memory_MemTotal_bytes > 0`, 20*time.Second, nil)
	waitQuery(t, base, `go_goroutines{job="panoptes"}`, 20*time.Second, nil)
	waitQuery(t, base, `prometheus_tsdb_head_series{job="panoptes"} > 0`, 20*time.Second, nil)
	waitQuery(t, base, `panoptes_build_info{job="panoptes"}`, 20*time.Second, nil)
	// Counters become rates once two collections are in.
	waitQuery(t, base, `sum(rate(node_cpu_seconds_total[10s])) > 0`, 20*time.Second, nil)

	_, body := get(t, base+"/api/v1/targets")
	for _, want := range []string{`"scrapePool":"node"`, `"scrapePool":"panoptes"`, `"health":"up"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/api/v1/targets lacks %s: %s", want, body)
		}
	}
	_, body = get(t, base+"/api/v1/metadata?metric=node_cpu_seconds_total")
	if !strings.Contains(string(body), `"type":"counter"`) {
		t.Errorf("metadata of node_cpu_seconds_total: %s", body)
	}
	if !strings.Contains(p.logs.String(), "Open "+base+"/") {
		t.Errorf("the URL to open (%s/) is not printed:\n%s", base, p.logs.String())
	}
}

// TestServerFederate: /federate answers the latest sample of each selected
// series with its timestamp, in the text format another server scrapes.
func TestServerFederate(t *testing.T) {
	t.Parallel()
	_, base := startServer(t, "--web.enable-remote-write-receiver")
	now := time.Now().Add(-10 * time.Second).Truncate(time.Millisecond)
	req := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		{
			Labels:  []prompb.Label{{Name: "__name__", Value: "fed_metric"}, {Name: "job", Value: "a"}},
			Samples: []prompb.Sample{{Timestamp: now.Add(-time.Second).UnixMilli(), Value: 1}, {Timestamp: now.UnixMilli(), Value: 2}},
		},
		{
			Labels:  []prompb.Label{{Name: "__name__", Value: "other_metric"}, {Name: "job", Value: "a"}},
			Samples: []prompb.Sample{{Timestamp: now.UnixMilli(), Value: 3}},
		},
	}}
	if err := oraclePush(base, req); err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, base+"/federate?match[]="+url.QueryEscape(`{__name__="fed_metric"}`))
	if resp.StatusCode != 200 {
		t.Fatalf("/federate: HTTP %d: %s", resp.StatusCode, body)
	}
	want := fmt.Sprintf(`fed_metric{job="a"} 2 %d`, now.UnixMilli())
	if !strings.Contains(string(body), want) {
		t.Errorf("/federate: want a line %q in:\n%s", want, body)
	}
	if strings.Contains(string(body), "other_metric") {
		t.Errorf("/federate returned a series the selector does not match:\n%s", body)
	}
	resp, _ = get(t, base+"/federate")
	if resp.StatusCode != 400 {
		t.Errorf("/federate without match[]: HTTP %d, want 400", resp.StatusCode)
	}
}
