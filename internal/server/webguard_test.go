package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/prompb"
)

// writeBody is a snappy-compressed remote-write 1.0 request of one sample
// of metric, now.
func writeBody(t *testing.T, metric string) []byte {
	t.Helper()
	req := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: metric}, {Name: "job", Value: "guard"}},
		Samples: []prompb.Sample{{Value: 1, Timestamp: time.Now().UnixMilli()}},
	}}}
	raw, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, raw)
}

// do sends a request with the headers (name, value, ...) and returns the
// status and body.
func do(t *testing.T, method, url string, body []byte, header ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
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

const (
	ctProto   = "application/x-protobuf"
	ctProtoV1 = "application/x-protobuf;proto=prometheus.WriteRequest"
)

// TestServerDefaultsRefuseWrites: with the defaults, as Prometheus, no
// remote write (404) and no /-/reload (403); the CPU profile needs
// --web.enable-pprof, the heap profile does not.
func TestServerDefaultsRefuseWrites(t *testing.T) {
	t.Parallel()
	base := runServer(t, newTestServer(t, func(*Options) {}))
	for _, tc := range []struct {
		method, path string
		body         []byte
		header       []string
		want         int
		wantBody     string
	}{
		{"POST", "/api/v1/write", writeBody(t, "m"), []string{"Content-Type", ctProto, "Content-Encoding", "snappy"}, 404, "--web.enable-remote-write-receiver"},
		{"POST", "/-/reload", nil, nil, 403, "Lifecycle API is not enabled"},
		{"GET", "/debug/pprof/profile?seconds=1", nil, nil, 403, "--web.enable-pprof"},
		{"GET", "/debug/pprof/trace?seconds=1", nil, nil, 403, "--web.enable-pprof"},
		{"GET", "/debug/pprof/heap", nil, nil, 200, ""},
	} {
		code, body := do(t, tc.method, base+tc.path, tc.body, tc.header...)
		if code != tc.want || !strings.Contains(body, tc.wantBody) {
			t.Errorf("%s %s: %d %q, want %d with %q", tc.method, tc.path, code, body, tc.want, tc.wantBody)
		}
	}
}

// TestServerRefusesCrossSite: with the receiver and /-/reload on, what a
// web page of another site could send is refused with a message that says
// what to send, and what real senders send is accepted.
func TestServerRefusesCrossSite(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, func(o *Options) {
		o.EnableRemoteWriteReceiver, o.EnableLifecycle, o.EnableAdminAPI = true, true, true
		// The all-in-one's built-in Alertmanager, as a stand-in that says
		// what reached it.
		o.LocalAlertmanager = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "alertmanager got %s %s", r.Method, r.URL.Path)
		})
	})
	base := runServer(t, s)
	host := strings.TrimPrefix(base, "http://")
	proto := []string{"Content-Type", ctProto, "Content-Encoding", "snappy"}
	for _, tc := range []struct {
		name         string
		method, path string
		body         []byte
		header       []string
		want         int
		wantBody     string
	}{
		{"remote write", "POST", "/api/v1/write", writeBody(t, "ok_a"), proto, 204, ""},
		{"remote write, proto=", "POST", "/api/v1/write", writeBody(t, "ok_b"), []string{"Content-Type", ctProtoV1, "Content-Encoding", "snappy"}, 204, ""},
		{"remote write, same origin", "POST", "/api/v1/write", writeBody(t, "ok_c"), append([]string{"Origin", base}, proto...), 204, ""},
		{"remote write, foreign origin", "POST", "/api/v1/write", writeBody(t, "bad_a"), append([]string{"Origin", "http://evil.example"}, proto...), 403, "cross-origin"},
		{"remote write, origin on another port", "POST", "/api/v1/write", writeBody(t, "bad_b"), append([]string{"Origin", "http://127.0.0.1:1"}, proto...), 403, "cross-origin"},
		{"remote write, null origin", "POST", "/api/v1/write", writeBody(t, "bad_c"), append([]string{"Origin", "null"}, proto...), 403, "cross-origin"},
		{"remote write, no content type", "POST", "/api/v1/write", writeBody(t, "bad_d"), []string{"Content-Encoding", "snappy"}, 415, "Content-Type: application/x-protobuf"},
		{"remote write, text/plain (no-cors fetch)", "POST", "/api/v1/write", writeBody(t, "bad_e"), []string{"Content-Type", "text/plain", "Content-Encoding", "snappy"}, 415, "Content-Type: application/x-protobuf"},
		{"remote write, no content encoding", "POST", "/api/v1/write", writeBody(t, "bad_f"), []string{"Content-Type", ctProto}, 415, "Content-Encoding: snappy"},
		{"remote write, path not clean", "POST", "/api/v1/./write", writeBody(t, "bad_g"), []string{"Content-Type", "text/plain"}, 415, "Content-Type"},
		{"reload, foreign origin", "POST", "/-/reload", nil, []string{"Origin", "https://evil.example"}, 403, "cross-origin"},
		{"reload, same origin", "POST", "/-/reload", nil, []string{"Origin", "http://" + host}, 200, "config reloaded"},
		{"reload, no origin", "POST", "/-/reload", nil, nil, 200, "config reloaded"},
		{"silence, foreign origin", "POST", "/alertmanager/api/v2/silences", []byte("{}"), []string{"Origin", "http://evil.example", "Content-Type", "text/plain"}, 403, "cross-origin"},
		{"expire silence, foreign origin", "DELETE", "/alertmanager/api/v2/silence/x", nil, []string{"Origin", "http://evil.example"}, 403, "cross-origin"},
		{"silence, same origin", "POST", "/alertmanager/api/v2/silences", []byte("{}"), []string{"Origin", base, "Content-Type", "application/json"}, 200, "alertmanager got POST"},
		{"admin, foreign origin", "POST", "/api/v1/admin/tsdb/clean_tombstones", nil, []string{"Origin", "http://evil.example"}, 403, "cross-origin"},
		// Reads stay open to programs and to this server's pages; another
		// site's page gets no CORS header to read the answer with.
		{"query, foreign origin, GET", "GET", "/api/v1/query?query=1", nil, []string{"Origin", "http://evil.example"}, 200, `"success"`},
		{"query, same origin, POST", "POST", "/api/v1/query", []byte("query=1"), []string{"Origin", base, "Content-Type", "application/x-www-form-urlencoded"}, 200, `"success"`},
	} {
		code, body := do(t, tc.method, base+tc.path, tc.body, tc.header...)
		if code != tc.want || !strings.Contains(body, tc.wantBody) {
			t.Errorf("%s: %s %s: %d %q, want %d with %q", tc.name, tc.method, tc.path, code, body, tc.want, tc.wantBody)
		}
	}
	// What was accepted is stored; nothing that was refused is.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body := do(t, "GET", base+`/api/v1/query?query=count({job="guard"})%20by%20(__name__)`, nil)
		n := strings.Count(body, `"__name__"`)
		if strings.Contains(body, "bad_") {
			t.Fatalf("a refused write was stored: %s", body)
		}
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the accepted writes are not all queryable: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestWebGuardConcurrentWrites: past the limit, a remote write is answered
// 503 with Retry-After, and admitted again once a slot is free.
func TestWebGuardConcurrentWrites(t *testing.T) {
	t.Parallel()
	entered, unblock := make(chan struct{}), make(chan struct{})
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		entered <- struct{}{}
		<-unblock
		w.WriteHeader(http.StatusNoContent)
	})
	o := NewOptions()
	o.EnableRemoteWriteReceiver, o.RemoteWriteMaxConcurrentRequests = true, 2
	reg := prometheus.NewRegistry()
	g := newWebGuard(next, o, nil, nil, reg)
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	proto := []string{"Content-Type", ctProto, "Content-Encoding", "snappy"}

	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if code, body := do(t, "POST", srv.URL+"/api/v1/write", writeBody(t, "m"), proto...); code != 204 {
				t.Errorf("a write within the limit: %d %s", code, body)
			}
		})
	}
	<-entered
	<-entered
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/api/v1/write", bytes.NewReader(writeBody(t, "m")))
	req.Header.Set("Content-Type", ctProto)
	req.Header.Set("Content-Encoding", "snappy")
	g.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "max-concurrent-requests=2") {
		t.Errorf("a third write at once: %d, Retry-After %q, %q; want 503 with Retry-After naming the flag", rec.Code, rec.Header().Get("Retry-After"), rec.Body.String())
	}
	close(unblock)
	wg.Wait()
	go func() { <-entered }()
	if code, body := do(t, "POST", srv.URL+"/api/v1/write", writeBody(t, "m"), proto...); code != 204 {
		t.Errorf("a write after the others ended: %d %s", code, body)
	}
	if got := testCounter(t, reg, refusedConcurrency); got != 1 {
		t.Errorf("panoptes_http_requests_refused_total{reason=%q} = %v, want 1", refusedConcurrency, got)
	}
}

// testCounter reads panoptes_http_requests_refused_total{reason}.
func testCounter(t *testing.T, g prometheus.Gatherer, reason string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "panoptes_http_requests_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no panoptes_http_requests_refused_total{reason=%q}", reason)
	return 0
}

// TestWebGuardDiskReservation: a remote write whose decoded size does not
// fit above the free-space margin, with the bytes in flight, is refused
// 507 before its body is read; one that fits reaches the receiver, and its
// bytes are released after it.
func TestWebGuardDiskReservation(t *testing.T) {
	t.Parallel()
	body := writeBody(t, "m")
	size, err := snappy.DecodedLen(body)
	if err != nil {
		t.Fatal(err)
	}
	disk, _ := newFakeGuard(64*mib+int64(size), 64*mib) // room for exactly one
	var during uint64
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		during = disk.reserved()
		if b, err := io.ReadAll(r.Body); err != nil || !bytes.Equal(b, body) {
			t.Errorf("the receiver read %d bytes (%v), want the %d sent", len(b), err, len(body))
		}
		w.WriteHeader(http.StatusNoContent)
	})
	o := NewOptions()
	o.EnableRemoteWriteReceiver = true
	g := newWebGuard(next, o, nil, disk, nil)
	send := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/api/v1/write", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctProto)
		req.Header.Set("Content-Encoding", "snappy")
		g.ServeHTTP(rec, req)
		return rec
	}
	if rec := send(); rec.Code != http.StatusNoContent {
		t.Fatalf("a write that fits: %d %s", rec.Code, rec.Body)
	}
	if during != uint64(size) || disk.reserved() != 0 {
		t.Errorf("reserved %d during the write and %d after, want %d and 0", during, disk.reserved(), size)
	}
	release, err := disk.reserve(1) // another write in flight
	if err != nil {
		t.Fatal(err)
	}
	rec := send()
	release()
	if rec.Code != http.StatusInsufficientStorage || !strings.Contains(rec.Body.String(), "--storage.tsdb.min-free-space") {
		t.Errorf("a write that does not fit beside one in flight: %d %q, want 507 naming the flag", rec.Code, rec.Body)
	}
}

// TestServerMaxConnections: with every --web.max-connections slot held by
// clients that serve no request (one idle keep-alive, one slow in its
// headers, as slowloris holds them), a new client is still answered: the
// server closes the longest-waiting of them, which Prometheus's
// LimitListener never does. internal/connlimit's tests cover the rest
// (a connection serving a request is never closed; the next one waits).
func TestServerMaxConnections(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(o *Options) { o.MaxConnections = 2 })
	base := runServer(t, srv)
	addr := strings.TrimPrefix(base, "http://")

	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idle.Close() })
	idleReader := bufio.NewReader(idle)
	if _, err := fmt.Fprintf(idle, "GET /-/healthy HTTP/1.1\r\nHost: %s\r\n\r\n", addr); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(idleReader, nil)
	if err != nil {
		t.Fatalf("a connection within the limit: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()

	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = slow.Close() })
	if _, err := fmt.Fprintf(slow, "GET /-/healthy HTTP/1.1\r\nHost: %s\r\nX-Slow: ", addr); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, func() bool { return srv.conns.Load().Open() == 2 })

	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err = client.Get(base + "/-/healthy")
	if err != nil {
		t.Fatalf("a new client with both slots held by idle and slow ones: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d", resp.StatusCode)
	}
	// The idle keep-alive connection waited longest without a request (the
	// slow one has not finished its first): it made room.
	if _, err := idleReader.ReadByte(); err == nil {
		t.Error("the idle keep-alive connection is still open")
	}
	// At least one: the new client's connection may not yet have been seen
	// to close when /metrics connects, and then the slow one makes room.
	body := get(t, base+"/metrics")
	if strings.Contains(body, "\npanoptes_http_connections_evicted_total 0\n") ||
		!strings.Contains(body, "\npanoptes_http_connections_evicted_total ") {
		t.Errorf("/metrics does not count the eviction:\n%s", body)
	}
}

// TestServerRefusesRebindedHost: a server listening on loopback answers
// only requests that name a loopback host, localhost or its external URL's
// host; a page whose own name was made to resolve to 127.0.0.1 (DNS
// rebinding) sends its name in Host and is refused, reads included. A
// server on every interface answers any Host.
func TestServerRefusesRebindedHost(t *testing.T) {
	t.Parallel()
	get := func(t *testing.T, base, host string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("GET", base+"/api/v1/query?query=1", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET with Host %s: %v", host, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	loop := runServer(t, newTestServer(t, func(o *Options) { o.ExternalURL = "https://prom.example.org/" }))
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(loop, "http://"))
	for _, tc := range []struct {
		host string
		want int
	}{
		{"127.0.0.1:" + port, 200},
		{"localhost:" + port, 200},
		{"LOCALHOST", 200},
		{"[::1]:" + port, 200},
		{"prom.example.org", 200},
		{"evil.example:" + port, http.StatusMisdirectedRequest},
		{"127.0.0.1.evil.example", http.StatusMisdirectedRequest},
		{"10.0.0.1:" + port, http.StatusMisdirectedRequest},
	} {
		code, body := get(t, loop, tc.host)
		if code != tc.want {
			t.Errorf("loopback listener, Host %s: %d %q, want %d", tc.host, code, body, tc.want)
		}
		if code == http.StatusMisdirectedRequest && !strings.Contains(body, "--web.external-url") {
			t.Errorf("Host %s: the refusal does not say what to do: %q", tc.host, body)
		}
	}

	// Every interface: the server is meant to be reached by any name.
	anyIf := runServer(t, newTestServer(t, func(o *Options) { o.ListenAddress = ":0" }))
	_, port, _ = net.SplitHostPort(strings.TrimPrefix(anyIf, "http://"))
	if code, body := get(t, "http://127.0.0.1:"+port, "monitoring.example:"+port); code != 200 {
		t.Errorf("listener on every interface refused Host monitoring.example: %d %q", code, body)
	}
}

func TestLoopbackListener(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9090": true, "localhost:9090": true, "[::1]:9090": true, "127.1.2.3:0": true,
		":9090": false, "0.0.0.0:9090": false, "10.0.0.1:9090": false, "example.org:9090": false, "bad": false,
	} {
		if got := loopbackListener(addr); got != want {
			t.Errorf("loopbackListener(%q) = %v, want %v", addr, got, want)
		}
	}
}
