package agent

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/panoptes-dev/panoptes/internal/collector/host"
)

// BenchmarkScrape measures one full scrape of every default collector over
// this machine's /proc and /sys, as Prometheus asks for it (gzip).
func BenchmarkScrape(b *testing.B) {
	var names []string
	for _, c := range host.Collectors() {
		if c.DefaultEnabled {
			names = append(names, c.Name)
		}
	}
	h := newTestAgent(b, names...).Handler()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
		_, _ = io.Copy(io.Discard, rec.Body)
	}
}
