package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// hook is a webhook receiver that records the payloads it gets.
type hook struct {
	mu       sync.Mutex
	payloads []map[string]any
	srv      *httptest.Server
}

func newHook(t *testing.T) *hook {
	t.Helper()
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		var p map[string]any
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			t.Errorf("webhook payload: %v", err)
		}
		h.mu.Lock()
		h.payloads = append(h.payloads, p)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// wait returns the first payload of the given status, waiting for it.
func (h *hook) wait(t *testing.T, status string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		for _, p := range h.payloads {
			if p["status"] == status {
				h.mu.Unlock()
				return p
			}
		}
		h.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s notification within a minute", status)
	return nil
}

func writeConfig(t *testing.T, dir, webhook string) string {
	t.Helper()
	path := filepath.Join(dir, "alertmanager.yml")
	cfg := fmt.Sprintf(`route:
  receiver: hook
  group_by: [alertname]
  group_wait: 100ms
  group_interval: 100ms
receivers:
- name: hook
  webhook_configs:
  - url: %s
`, webhook)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// TestEmbedded mounts Handler at /alertmanager/ of another mux, as the
// all-in-one does, posts an alert to /alertmanager/api/v2/alerts, and the
// webhook gets it with links under the external URL; after Run ends, the
// snapshots are on disk.
func TestEmbedded(t *testing.T) {
	t.Parallel()
	h := newHook(t)
	dir := t.TempDir()
	o := NewOptions()
	o.ConfigFile = writeConfig(t, dir, h.srv.URL)
	o.StoragePath = filepath.Join(dir, "data")
	o.ExternalURL = "http://panoptes.example:9090/alertmanager"
	reg := prometheus.NewRegistry()
	a, err := New(o, testLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx) }()
	mux := http.NewServeMux()
	mux.Handle("/alertmanager/", a.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "the host's own", http.StatusTeapot) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	body := `[{"labels":{"alertname":"DiskFull","instance":"host1"},"annotations":{"summary":"full"}}]`
	res, err := http.Post(srv.URL+"/alertmanager/api/v2/alerts", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST /alertmanager/api/v2/alerts: %s", res.Status)
	}
	p := h.wait(t, "firing")
	if p["externalURL"] != o.ExternalURL {
		t.Errorf("externalURL %v, want %s", p["externalURL"], o.ExternalURL)
	}
	if p["groupKey"] != `{}:{alertname="DiskFull"}` {
		t.Errorf("groupKey %v", p["groupKey"])
	}
	alerts := p["alerts"].([]any)
	if len(alerts) != 1 || alerts[0].(map[string]any)["labels"].(map[string]any)["instance"] != "host1" {
		t.Errorf("alerts %v", alerts)
	}

	for path, want := range map[string]int{
		"/alertmanager/":                http.StatusOK,
		"/alertmanager/-/healthy":       http.StatusOK,
		"/alertmanager/-/ready":         http.StatusOK,
		"/alertmanager/api/v2/status":   http.StatusOK,
		"/alertmanager/api/v2/silences": http.StatusOK,
		"/alertmanager/metrics":         http.StatusNotFound, // the host's /metrics has them
		"/elsewhere":                    http.StatusTeapot,
	} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s: %s, want %d", path, res.Status, want)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "alertmanager_notifications_total", "alertmanager_config_last_reload_successful", "alertmanager_alerts_received_total"); err != nil || n == 0 {
		t.Errorf("Alertmanager's metrics in the host's registry: %d, %v", n, err)
	}

	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"silences", "nflog"} {
		if _, err := os.Stat(filepath.Join(o.StoragePath, f)); err != nil {
			t.Errorf("snapshot after Run: %v", err)
		}
	}
}

// TestReload: a config that does not load is rejected whole, named by
// file, and the running one stays; a good one applies.
func TestReload(t *testing.T) {
	t.Parallel()
	h := newHook(t)
	dir := t.TempDir()
	o := NewOptions()
	o.ConfigFile = writeConfig(t, dir, h.srv.URL)
	o.StoragePath = dir
	o.ListenAddress = "127.0.0.1:0"
	reg := prometheus.NewRegistry()
	a, err := New(o, testLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx) }()
	// Registered after TempDir's cleanup, so it runs first: the last
	// snapshots are written before the directory goes.
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Error(err)
		}
	})
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()

	if err := os.WriteFile(o.ConfigFile, []byte("route:\n  receiver: nobody\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := http.Post(srv.URL+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusInternalServerError || !strings.Contains(string(msg), "nobody") || !strings.Contains(string(msg), o.ConfigFile) {
		t.Errorf("reload of a bad config: %s %s", res.Status, msg)
	}
	if v := testutil.ToFloat64(gauge(t, reg, "alertmanager_config_last_reload_successful")); v != 0 {
		t.Errorf("alertmanager_config_last_reload_successful %v after a bad reload", v)
	}
	// The running config still routes to the hook.
	post(t, srv.URL, `[{"labels":{"alertname":"StillRouted"}}]`)
	h.wait(t, "firing")

	writeConfig(t, dir, h.srv.URL)
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if v := testutil.ToFloat64(gauge(t, reg, "alertmanager_config_last_reload_successful")); v != 1 {
		t.Errorf("alertmanager_config_last_reload_successful %v after a good reload", v)
	}
}

func post(t *testing.T, base, body string) {
	t.Helper()
	res, err := http.Post(base+"/api/v2/alerts", "application/json", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST alerts: %s", res.Status)
	}
}

// gauge finds a gauge of reg by name, as a collector testutil can read.
func gauge(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "copy"})
			g.Set(mf.GetMetric()[0].GetGauge().GetValue())
			return g
		}
	}
	t.Fatalf("no %s", name)
	return nil
}

func TestNewBadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "am.yml")
	if err := os.WriteFile(path, []byte("route:\n  receiver: x\n  group_wait: soon\nreceivers:\n- name: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := NewOptions()
	o.ConfigFile, o.StoragePath = path, dir
	_, err := New(o, testLogger(t), nil)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "soon") {
		t.Fatalf("New with a bad config: %v; want the parser's error naming %s", err, path)
	}
	o.ConfigFile = filepath.Join(dir, "missing.yml")
	if _, err := New(o, testLogger(t), nil); err == nil || !strings.Contains(err.Error(), "missing.yml") {
		t.Fatalf("New with a missing config: %v", err)
	}
}
