package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The notifications of `panoptes server`: its rules fire, Prometheus's
// notifier package sends the alerts to a real Alertmanager (Debian's, and
// the version of the alertmanager module the server links, built as a
// peer), which delivers them to a webhook receiver the test runs, and then
// the resolution.

// notifyWebhook records what an Alertmanager delivers to it.
type notifyWebhook struct {
	mu       sync.Mutex
	payloads []notifyPayload
	srv      *httptest.Server
}

// notifyPayload is the part of Alertmanager's webhook payload the tests read.
type notifyPayload struct {
	Status   string `json:"status"`
	Receiver string `json:"receiver"`
	GroupKey string `json:"groupKey"`
	Alerts   []struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		GeneratorURL string            `json:"generatorURL"`
	} `json:"alerts"`
}

func newNotifyWebhook(t *testing.T) *notifyWebhook {
	t.Helper()
	w := &notifyWebhook{}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var p notifyPayload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			t.Errorf("webhook: bad payload: %v", err)
		}
		w.mu.Lock()
		w.payloads = append(w.payloads, p)
		w.mu.Unlock()
	}))
	t.Cleanup(w.srv.Close)
	return w
}

// waitStatus waits for a payload with the given status ("firing",
// "resolved") that carries alertname, and returns it.
func (w *notifyWebhook) waitStatus(t *testing.T, status, alertname string, timeout time.Duration) notifyPayload {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		for _, p := range w.payloads {
			for _, a := range p.Alerts {
				if p.Status == status && a.Status == status && a.Labels["alertname"] == alertname {
					w.mu.Unlock()
					return p
				}
			}
		}
		w.mu.Unlock()
		time.Sleep(200 * time.Millisecond)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Fatalf("no %s notification of %s within %v; received %+v", status, alertname, timeout, w.payloads)
	return notifyPayload{}
}

// notifyControl is a scrape target whose exposition the test changes.
type notifyControl struct {
	body atomic.Value
	srv  *httptest.Server
}

func newNotifyControl(t *testing.T, body string) *notifyControl {
	t.Helper()
	c := &notifyControl{}
	c.body.Store(body)
	c.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(rw, c.body.Load().(string))
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *notifyControl) host() string { return strings.TrimPrefix(c.srv.URL, "http://") }

// startAlertmanagerPeer runs a real Alertmanager with cfg on a free port,
// without clustering, and returns its base URL.
func startAlertmanagerPeer(t *testing.T, bin, cfg string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	start(t, bin, "--config.file="+path, "--storage.path="+dir, "--web.listen-address="+addr, "--cluster.listen-address=")
	base := "http://" + addr
	waitHTTP(t, base+"/-/ready")
	return base
}

// notifyAMConfig routes everything to the webhook at once: group_wait and
// group_interval of a second, so that the firing and resolved notifications
// come quickly.
func notifyAMConfig(webhook string) string {
	return fmt.Sprintf(`route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: hook
  webhook_configs:
  - url: %s
    send_resolved: true
`, webhook)
}

// writeServerConfig writes a prometheus.yml and a rule file into a
// directory of the test's own and returns the config's path.
func writeServerConfig(t *testing.T, prom, rules string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(path, []byte(prom), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// queryValue returns the value of a one-sample instant query, or -1.
func queryValue(t *testing.T, base, q string) float64 {
	t.Helper()
	_, body := get(t, base+"/api/v1/query?query="+url.QueryEscape(q))
	var res struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("query %s: %v: %s", q, err, body)
	}
	if len(res.Data.Result) != 1 {
		return -1
	}
	var v float64
	_, _ = fmt.Sscan(res.Data.Result[0].Value[1].(string), &v)
	return v
}

// metricSum adds up the samples of a counter or gauge family of the
// server's own /metrics.
func metricSum(t *testing.T, base, name string) float64 {
	t.Helper()
	mf := scrape(t, base+"/metrics")[name]
	if mf == nil {
		return 0
	}
	sum := 0.0
	for _, m := range mf.GetMetric() {
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return sum
}

func TestAlertingToRealAlertmanager(t *testing.T) {
	t.Parallel()
	peers := []struct{ name, bin string }{
		{"debian", "prometheus-alertmanager"},
		{"module", ""},
	}
	for _, peer := range peers {
		t.Run(peer.name, func(t *testing.T) {
			t.Parallel()
			bin := peer.bin
			if bin == "" {
				bin = cachedPeer(t, "alertmanager-v*/alertmanager")
			} else {
				bin = requirePeer(t, bin)
			}
			hook := newNotifyWebhook(t)
			am := startAlertmanagerPeer(t, bin, notifyAMConfig(hook.srv.URL))
			control := newNotifyControl(t, "control 1\n")
			cfg := writeServerConfig(t, fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
  external_labels: {cluster: test}
rule_files: [rules.yaml]
scrape_configs:
- job_name: control
  static_configs: [{targets: [%q]}]
alerting:
  alert_relabel_configs:
  - target_label: relabelled
    replacement: "yes"
  alertmanagers:
  - static_configs: [{targets: [%q]}]
    api_version: v2
`, control.host(), strings.TrimPrefix(am, "http://")), `groups:
- name: test
  rules:
  - alert: ControlHigh
    expr: control > 0
    labels: {severity: critical}
    annotations:
      summary: "control is {{ $value }} on {{ $labels.instance }}"
`)
			_, base := startServer(t, "--config.file="+cfg)

			fired := hook.waitStatus(t, "firing", "ControlHigh", 90*time.Second)
			a := fired.Alerts[0]
			for k, want := range map[string]string{"severity": "critical", "relabelled": "yes", "cluster": "test", "job": "control"} {
				if a.Labels[k] != want {
					t.Errorf("delivered label %s=%q, want %q (labels %v)", k, a.Labels[k], want, a.Labels)
				}
			}
			if want := "control is 1 on " + control.host(); a.Annotations["summary"] != want {
				t.Errorf("summary %q, want %q", a.Annotations["summary"], want)
			}
			if !strings.Contains(a.GeneratorURL, "/graph?g0.expr=") {
				t.Errorf("generatorURL %q does not link to the expression", a.GeneratorURL)
			}
			_, body := get(t, base+"/api/v1/alertmanagers")
			if !strings.Contains(string(body), strings.TrimPrefix(am, "http://")+"/api/v2/alerts") {
				t.Errorf("/api/v1/alertmanagers does not list %s: %s", am, body)
			}

			control.body.Store("control 0\n")
			hook.waitStatus(t, "resolved", "ControlHigh", 90*time.Second)
			if v := metricSum(t, base, "prometheus_notifications_sent_total"); v < 2 {
				t.Errorf("prometheus_notifications_sent_total = %v, want at least the firing and the resolved alert", v)
			}
		})
	}
}

// TestAlertingUnreachableAndFlood: an Alertmanager that does not answer
// never blocks evaluation (alerts queue, are dropped past the queue's
// capacity and counted), and a flood of 10,000 firing alerts reaches a real
// Alertmanager whole while the server keeps answering.
func TestAlertingUnreachableAndFlood(t *testing.T) {
	t.Parallel()
	const n = 10000
	var flood strings.Builder
	for i := range n {
		fmt.Fprintf(&flood, "flood{i=\"%d\"} 1\n", i)
	}
	control := newNotifyControl(t, flood.String())
	am := startAlertmanagerPeer(t, requirePeer(t, "prometheus-alertmanager"), `route:
  receiver: none
receivers:
- name: none
`)
	closed := freePort(t) // nothing listens there
	rules := `groups:
- name: flood
  rules:
  - alert: Flood
    expr: flood > 0
`
	prom := func(target string) string {
		return fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yaml]
scrape_configs:
- job_name: flood
  static_configs: [{targets: [%q]}]
alerting:
  alertmanagers:
  - static_configs: [{targets: [%q]}]
    timeout: 2s
`, control.host(), target)
	}

	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		_, base := startServer(t, "--config.file="+writeServerConfig(t, prom(closed), rules),
			"--alertmanager.notification-queue-capacity=1000")
		deadline := time.Now().Add(120 * time.Second)
		for {
			dropped := metricSum(t, base, "prometheus_notifications_dropped_total")
			errs := metricSum(t, base, "prometheus_notifications_errors_total")
			evals := metricSum(t, base, "prometheus_rule_evaluations_total")
			if dropped > 0 && errs > 0 && evals >= 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("dropped %v, errors %v, evaluations %v: want alerts dropped and counted while evaluation goes on", dropped, errs, evals)
			}
			time.Sleep(time.Second)
		}
		// Evaluation goes on: the rule keeps its n alerts fresh.
		deadline = time.Now().Add(120 * time.Second)
		for {
			v := queryValue(t, base, `count(ALERTS{alertname="Flood"})`)
			if v == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("count(ALERTS) = %v, want %d", v, n)
			}
			time.Sleep(time.Second)
		}
	})

	t.Run("flood", func(t *testing.T) {
		t.Parallel()
		_, base := startServer(t, "--config.file="+writeServerConfig(t, prom(strings.TrimPrefix(am, "http://")), rules))
		deadline := time.Now().Add(180 * time.Second)
		for {
			_, body := get(t, am+"/api/v2/alerts?active=true&silenced=false&inhibited=false")
			var alerts []json.RawMessage
			if err := json.Unmarshal(body, &alerts); err != nil {
				t.Fatalf("alertmanager alerts: %v: %.200s", err, body)
			}
			if len(alerts) == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the Alertmanager holds %d alerts, want all %d (queue capacity 10000)", len(alerts), n)
			}
			time.Sleep(time.Second)
		}
		if v := metricSum(t, base, "prometheus_notifications_dropped_total"); v != 0 {
			t.Errorf("%v alerts dropped, want none: they fit the queue", v)
		}
		// The server still answers while the flood goes on.
		if v := queryValue(t, base, `vector(1)`); v != 1 {
			t.Errorf("query during the flood: %v", v)
		}
	})
}
