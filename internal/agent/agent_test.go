package agent

import (
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/panoptes-dev/panoptes/internal/collector/host"
)

// newTestAgent builds an agent over the real /proc and /sys of this machine.
func newTestAgent(t testing.TB, collectors ...string) *Agent {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	named, err := host.New(collectors, host.DefaultConfig(), logger)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Collectors: named, CollectorTimeout: 5 * time.Second}, logger)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func request(t testing.TB, h http.Handler, target string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	r := io.Reader(resp.Body)
	if resp.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		r = gz
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMetricsNegotiation(t *testing.T) {
	t.Parallel()
	h := newTestAgent(t, "loadavg", "cpu").Handler()

	plain := request(t, h, "/metrics")
	if ct := plain.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("plain Content-Type = %q", ct)
	}
	text := body(t, plain)
	for _, want := range []string{"# TYPE node_load1 gauge", `node_scrape_collector_success{collector="cpu"} 1`, "go_goroutines", "panoptes_build_info{"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}

	gz := request(t, h, "/metrics", "Accept-Encoding", "gzip")
	if gz.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("no gzip with Accept-Encoding: gzip")
	}
	if !strings.Contains(body(t, gz), "node_load1 ") {
		t.Errorf("gzip body lacks node_load1")
	}

	om := request(t, h, "/metrics", "Accept", "application/openmetrics-text; version=1.0.0")
	if ct := om.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("OpenMetrics Content-Type = %q", ct)
	}
	if !strings.HasSuffix(body(t, om), "# EOF\n") {
		t.Errorf("OpenMetrics output does not end with # EOF")
	}
}

func TestCollectParameters(t *testing.T) {
	t.Parallel()
	h := newTestAgent(t, "loadavg", "cpu", "stat").Handler()
	for _, tc := range []struct {
		query      string
		status     int
		has, hasnt []string
	}{
		{"collect[]=loadavg", 200, []string{"node_load1 "}, []string{"node_cpu_seconds_total", "node_forks_total"}},
		{"exclude[]=cpu", 200, []string{"node_load1 ", "node_forks_total "}, []string{"node_cpu_seconds_total"}},
		{"collect[]=nope", 400, []string{`collector "nope" is not enabled`}, nil},
		{"collect[]=cpu&exclude[]=stat", 400, []string{"cannot be combined"}, nil},
	} {
		resp := request(t, h, "/metrics?"+tc.query)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.query, resp.StatusCode, tc.status)
		}
		b := body(t, resp)
		for _, s := range tc.has {
			if !strings.Contains(b, s) {
				t.Errorf("%s: output lacks %q", tc.query, s)
			}
		}
		for _, s := range tc.hasnt {
			if strings.Contains(b, s) {
				t.Errorf("%s: output has %q", tc.query, s)
			}
		}
	}
}

func TestRunHealthAndShutdown(t *testing.T) {
	t.Parallel()
	a := newTestAgent(t, "loadavg")
	a.cfg.Listen = "127.0.0.1:0"
	if resp := request(t, a.Handler(), "/readyz"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz before listening: %d, want 503", resp.StatusCode)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	go func() { errc <- a.Run(ctx, func(addr net.Addr) { addrc <- addr }) }()
	base := "http://" + (<-addrc).String()
	for _, path := range []string{"/healthz", "/readyz", "/", "/metrics"} {
		resp, err := http.Get(base + path) //nolint:noctx // loopback test
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
	resp, err := http.Get(base + "/nope") //nolint:noctx // loopback test
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nope: %d, want 404", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestNewRejectsBadPath(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{MetricsPath: "metrics"}, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Error("metrics path without leading slash accepted")
	}
}
