package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// send makes one request with the headers (name, value, ...) and returns
// its status and body.
func send(t *testing.T, method, url string, body []byte, header ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// oneSampleWrite is a snappy-compressed remote-write 1.0 request of one
// sample of metric.
func oneSampleWrite(t *testing.T, metric string) []byte {
	t.Helper()
	raw, err := (&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: metric}},
		Samples: []prompb.Sample{{Value: 1, Timestamp: time.Now().UnixMilli()}},
	}}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, raw)
}

// TestServerSafeDefaults: `panoptes server` with default flags refuses
// remote write and /-/reload with the status Debian's Prometheus answers
// with its defaults, and the CPU profile needs --web.enable-pprof.
func TestServerSafeDefaults(t *testing.T) {
	t.Parallel()
	_, base := startServer(t)
	prom := requirePeer(t, "prometheus")
	addr := freePort(t)
	cfg := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 15s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, prom, "--config.file="+cfg, "--storage.tsdb.path="+t.TempDir(), "--web.listen-address="+addr)
	waitHTTP(t, "http://"+addr+"/-/ready")

	write := []string{"Content-Type", "application/x-protobuf", "Content-Encoding", "snappy", "X-Prometheus-Remote-Write-Version", "0.1.0"}
	for _, tc := range []struct {
		method, path string
		header       []string
	}{
		{"POST", "/api/v1/write", write},
		{"POST", "/-/reload", nil},
		{"PUT", "/-/reload", nil},
	} {
		want, wantBody := send(t, tc.method, "http://"+addr+tc.path, oneSampleWrite(t, "x"), tc.header...)
		got, body := send(t, tc.method, base+tc.path, oneSampleWrite(t, "x"), tc.header...)
		if got != want || want/100 != 4 {
			t.Errorf("%s %s: panoptes %d %q, prometheus %d %q: want the same refusal", tc.method, tc.path, got, body, want, wantBody)
		}
	}
	if code, body := send(t, "GET", base+"/debug/pprof/profile?seconds=1", nil); code != http.StatusForbidden || !strings.Contains(body, "--web.enable-pprof") {
		t.Errorf("GET /debug/pprof/profile: %d %q, want 403 naming --web.enable-pprof", code, body)
	}
}

// TestServerReceivesPrometheusRemoteWrite: Debian's Prometheus scrapes
// itself and remote-writes into `panoptes server
// --web.enable-remote-write-receiver`: its series arrive. A write with
// another site's Origin, or without the protocol's Content-Type (what a
// no-cors fetch() from a page sends), is refused and stores nothing.
func TestServerReceivesPrometheusRemoteWrite(t *testing.T) {
	t.Parallel()
	_, base := startServer(t, "--web.enable-remote-write-receiver")
	prom := requirePeer(t, "prometheus")
	addr := freePort(t)
	cfg := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `global:
  scrape_interval: 1s
scrape_configs:
  - job_name: sender
    static_configs:
      - targets: [%q]
remote_write:
  - url: %q
    queue_config:
      batch_send_deadline: 1s
`, addr, base+"/api/v1/write"), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, prom, "--config.file="+cfg, "--storage.tsdb.path="+t.TempDir(), "--web.listen-address="+addr)

	for _, tc := range []struct {
		name   string
		header []string
		want   int
	}{
		{"foreign origin", []string{"Origin", "http://evil.example", "Content-Type", "application/x-protobuf", "Content-Encoding", "snappy"}, http.StatusForbidden},
		{"no-cors fetch", []string{"Origin", "http://evil.example", "Content-Type", "text/plain;charset=UTF-8"}, http.StatusForbidden},
		{"no content type", []string{"Content-Encoding", "snappy"}, http.StatusUnsupportedMediaType},
		{"no content encoding", []string{"Content-Type", "application/x-protobuf"}, http.StatusUnsupportedMediaType},
	} {
		if code, body := send(t, "POST", base+"/api/v1/write", oneSampleWrite(t, "cross_site_write"), tc.header...); code != tc.want {
			t.Errorf("%s: %d %q, want %d", tc.name, code, body, tc.want)
		}
	}

	deadline := time.Now().Add(90 * time.Second)
	for {
		_, body := send(t, "GET", base+`/api/v1/query?query=up{job="sender"}`, nil)
		if strings.Contains(body, `"job":"sender"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus's remote write did not arrive: %s", body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, body := send(t, "GET", base+"/api/v1/query?query=cross_site_write", nil); !strings.Contains(body, `"result":[]`) {
		t.Errorf("a refused write was stored: %s", body)
	}
}
