package agent

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/panoptes-dev/panoptes/internal/collector/host"
)

// blocker is a route that holds its request until released, standing in
// for a slow /stats/summary or scrape; entered receives once per request
// inside it.
type blocker struct {
	entered chan struct{}
	release chan struct{}
}

func newBlocker() *blocker {
	return &blocker{entered: make(chan struct{}), release: make(chan struct{})}
}

func (b *blocker) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	b.entered <- struct{}{}
	<-b.release
	_, _ = w.Write([]byte("done\n"))
}

// hold sends n requests to path on h and returns once all n are inside
// the blocker; wait waits for their answers (after b.release is closed).
func hold(t *testing.T, h http.Handler, b *blocker, path string, n int) (wait func() []int) {
	t.Helper()
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			codes[i] = rec.Code
		}()
	}
	for range n {
		select {
		case <-b.entered:
		case <-time.After(30 * time.Second):
			t.Fatalf("the %d requests to %s did not all reach the handler", n, path)
		}
	}
	return func() []int { wg.Wait(); return codes }
}

// TestMaxRequestsEveryRoute: with --web.max-requests N requests in flight
// on one route, the N+1th request on any route (the metrics path, with and
// without collect[], the kubelet-shaped routes, the landing page, an
// unknown path) gets 503 at once, the probes still answer, and once the N
// finish every route answers again.
func TestMaxRequestsEveryRoute(t *testing.T) {
	t.Parallel()
	const max = 3
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	named, err := host.New([]string{"loadavg"}, host.DefaultConfig(), logger)
	if err != nil {
		t.Fatal(err)
	}
	b := newBlocker()
	a, err := New(Config{
		Collectors:  named,
		MaxRequests: max,
		Handlers: map[string]http.Handler{
			"/stats/summary":    b,
			"/metrics/resource": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }),
		},
	}, logger)
	if err != nil {
		t.Fatal(err)
	}
	a.ready.Store(true)
	h := a.Handler()
	wait := hold(t, h, b, "/stats/summary", max)

	limited := []string{"/metrics", "/metrics?collect[]=loadavg", "/metrics?exclude[]=loadavg", "/metrics/resource", "/stats/summary", "/", "/nope"}
	for _, path := range limited {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("GET %s with %d requests in flight: %d, want 503", path, max, rec.Code)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s with %d requests in flight: %d, want 200 (probes are not bounded)", path, max, rec.Code)
		}
	}
	close(b.release)
	for i, code := range wait() {
		if code != http.StatusOK {
			t.Errorf("held request %d: %d, want 200", i, code)
		}
	}
	want := map[string]int{"/nope": http.StatusNotFound}
	for _, path := range limited {
		if path == "/stats/summary" {
			continue // the blocker would wait for an entered receiver
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		w, ok := want[path]
		if !ok {
			w = http.StatusOK
		}
		if rec.Code != w {
			t.Errorf("GET %s once the requests finished: %d, want %d", path, rec.Code, w)
		}
	}
}

// TestLimitEachShares: the kubelet-shaped listener's routes share one
// bound of their own (limitEach), and 0 bounds nothing.
func TestLimitEachShares(t *testing.T) {
	t.Parallel()
	b := newBlocker()
	other := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	routes := limitEach(2, map[string]http.Handler{"/stats/summary": b, "/metrics/resource": other})
	mux := http.NewServeMux()
	for path, h := range routes {
		mux.Handle(path, h)
	}
	wait := hold(t, mux, b, "/stats/summary", 2)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics/resource", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/metrics/resource with 2 /stats/summary in flight: %d, want 503", rec.Code)
	}
	close(b.release)
	wait()
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics/resource", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("/metrics/resource after: %d, want 200", rec.Code)
	}

	unbounded := limitEach(0, map[string]http.Handler{"/x": other})
	if _, ok := unbounded["/x"].(http.HandlerFunc); !ok {
		t.Error("limitEach(0) wrapped the handler; 0 means no bound")
	}
}
