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
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/panoptes-dev/panoptes/internal/testkit"
)

// The fixed exposition the forwarding server scrapes, and the series it must
// forward: every label the exposition gives plus the target's job, instance
// and static labels, with the same values everywhere.
const (
	rwJob        = "rw-e2e"
	rwExposition = `# HELP rw_e2e_temperature_celsius A gauge with known values.
# TYPE rw_e2e_temperature_celsius gauge
rw_e2e_temperature_celsius{room="lab",sensor="a"} 21.5
rw_e2e_temperature_celsius{room="lab",sensor="b"} -3.25
# HELP rw_e2e_requests_total A counter with a known value.
# TYPE rw_e2e_requests_total counter
rw_e2e_requests_total{code="200",path="/api"} 1027
`
	// rwSelector selects the scraped series and the synthetic up series.
	rwSelector = `{job="` + rwJob + `",__name__=~"rw_e2e_.*|up"}`
	// rwCounter is one series whose raw samples are counted everywhere.
	rwCounter = `rw_e2e_requests_total{job="` + rwJob + `"}`
)

// rwExpected returns the series the test target yields once scraped, as
// "labels value" lines; external labels are added by remote write only.
func rwExpected(instance string, external map[string]string) []string {
	base := map[string]string{"job": rwJob, "instance": instance, "env": "e2e"}
	for k, v := range external {
		base[k] = v
	}
	series := []struct {
		labels map[string]string
		value  string
	}{
		{map[string]string{"__name__": "rw_e2e_temperature_celsius", "room": "lab", "sensor": "a"}, "21.5"},
		{map[string]string{"__name__": "rw_e2e_temperature_celsius", "room": "lab", "sensor": "b"}, "-3.25"},
		{map[string]string{"__name__": "rw_e2e_requests_total", "code": "200", "path": "/api"}, "1027"},
		{map[string]string{"__name__": "up"}, "1"},
	}
	var out []string
	for _, s := range series {
		for k, v := range base {
			s.labels[k] = v
		}
		out = append(out, oracleLabelString(s.labels)+" "+s.value)
	}
	sort.Strings(out)
	return out
}

// rwTarget serves the fixed exposition on loopback and returns host:port.
func rwTarget(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = io.WriteString(w, rwExposition)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// rwConfig writes a Prometheus configuration that scrapes target every
// second and remote-writes to each receiver URL with short batching and
// backoff, so that data arrives within seconds and retries are quick.
func rwConfig(t *testing.T, target string, receivers ...string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  external_labels:
    replica: e2e
scrape_configs:
  - job_name: %s
    static_configs:
      - targets: [%q]
        labels:
          env: e2e
remote_write:
`, rwJob, target)
	for _, r := range receivers {
		fmt.Fprintf(&b, `  - url: %q
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
`, r)
	}
	path := filepath.Join(t.TempDir(), "server.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// rwEndpoint is a system that answers PromQL at /api/v1/query: the
// forwarding server or a receiver.
type rwEndpoint struct {
	name string
	base string
	// flushURL, when set, is fetched before each query: VictoriaMetrics
	// keeps fresh samples and series in memory buffers that queries do not
	// see for several seconds, and its /internal/force_flush (meant for tests)
	// makes them searchable at once.
	flushURL string
}

// startForwarder runs the server under test, `panoptes server`, with the
// configuration file. With PANOPTES_E2E_FORWARDER=prometheus the Prometheus
// peer forwards instead, which shows that the test checks what Prometheus
// itself does.
func startForwarder(t *testing.T, cfgFile string) rwEndpoint {
	t.Helper()
	if os.Getenv("PANOPTES_E2E_FORWARDER") == "prometheus" {
		addr := freePort(t)
		start(t, prometheusPeer(t), "--config.file="+cfgFile, "--storage.tsdb.path="+t.TempDir(),
			"--web.listen-address="+addr)
		waitHTTP(t, "http://"+addr+"/-/ready")
		return rwEndpoint{name: "forwarding prometheus", base: "http://" + addr}
	}
	_, base := startServer(t, "--config.file="+cfgFile)
	return rwEndpoint{name: "panoptes server", base: base}
}

// startPromReceiver runs the Prometheus peer as a remote-write receiver on
// addr; it ingests at /api/v1/write.
func startPromReceiver(t *testing.T, prom, addr string) rwEndpoint {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 15s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, prom, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--web.enable-remote-write-receiver")
	waitHTTP(t, "http://"+addr+"/-/ready")
	return rwEndpoint{name: "prometheus", base: "http://" + addr}
}

// startVictoriaMetrics runs single-node VictoriaMetrics on addr; it ingests
// at /api/v1/write and answers /api/v1/query. -search.latencyOffset=0s
// shows samples of the last 30 s, which it hides by default, and
// -search.disableCache keeps a query from answering from a result cached
// before the data arrived.
func startVictoriaMetrics(t *testing.T, vm, addr string) rwEndpoint {
	t.Helper()
	start(t, vm, "-httpListenAddr="+addr, "-storageDataPath="+t.TempDir(), "-retentionPeriod=1d",
		"-search.latencyOffset=0s", "-search.disableCache", "-loggerLevel=WARN")
	waitHTTP(t, "http://"+addr+"/health")
	return rwEndpoint{name: "victoria-metrics", base: "http://" + addr, flushURL: "http://" + addr + "/internal/force_flush"}
}

// query runs an instant query (at the given time, unless zero) and returns
// the result as sorted "labels value" lines, or an error when the endpoint
// does not answer with success.
func (e rwEndpoint) query(query string, at time.Time) ([]string, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	if e.flushURL != "" {
		resp, err := client.Get(e.flushURL) //nolint:noctx // test URL on loopback
		if err != nil {
			return nil, err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", e.flushURL, resp.Status)
		}
	}
	q := url.Values{"query": {query}}
	if !at.IsZero() {
		q.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64))
	}
	resp, err := client.Get(e.base + "/api/v1/query?" + q.Encode()) //nolint:noctx // test URL on loopback
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var r struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", resp.Status, body, err)
	}
	if r.Status != "success" || r.Data.ResultType != "vector" {
		return nil, fmt.Errorf("%s: %s", resp.Status, body)
	}
	out := make([]string, 0, len(r.Data.Result))
	for _, s := range r.Data.Result {
		v, _ := s.Value[1].(string)
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			v = strconv.FormatFloat(f, 'g', -1, 64) // "1027", "1.027e+03" alike
		}
		out = append(out, oracleLabelString(s.Metric)+" "+v)
	}
	sort.Strings(out)
	return out, nil
}

// waitSeries polls e until rwSelector returns exactly want.
func (e rwEndpoint) waitSeries(t *testing.T, want []string, timeout time.Duration) {
	t.Helper()
	var got []string
	var err error
	began := time.Now()
	deadline := began.Add(timeout)
	for {
		got, err = e.query(rwSelector, time.Time{})
		if err == nil && strings.Join(got, "\n") == strings.Join(want, "\n") {
			t.Logf("%s: all %d series after %v", e.name, len(want), time.Since(began).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s did not return the forwarded series within %v (error %v)\ngot:\n  %s\nwant:\n  %s",
				e.name, rwSelector, timeout, err, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// count returns how many raw samples of rwCounter e holds in the window
// (a PromQL duration) up to at.
func (e rwEndpoint) count(window string, at time.Time) (int, error) {
	res, err := e.query("count_over_time("+rwCounter+"["+window+"])", at)
	if err != nil {
		return 0, err
	}
	if len(res) != 1 {
		return 0, fmt.Errorf("want one series, got %q", res)
	}
	return strconv.Atoi(res[0][strings.LastIndexByte(res[0], ' ')+1:])
}

// rwWaitSameCount polls until every receiver holds as many raw samples of
// rwCounter in the minute up to at as the forwarder itself: nothing lost,
// nothing doubled. at should be off the millisecond grid of scrapes
// (rwInstant), so no sample sits on the window's edge. The forwarder is
// asked again each time, in case a scrape from before at was committed
// late on a loaded machine. How long delivery took is logged; a bound on
// it would measure the machine (the lag figure is a benchmark's).
func rwWaitSameCount(t *testing.T, forwarder rwEndpoint, at time.Time, receivers ...rwEndpoint) {
	t.Helper()
	want, err := forwarder.count("1m", at)
	if err != nil {
		t.Fatalf("%s: count samples: %v", forwarder.name, err)
	}
	if want < 2 {
		t.Fatalf("%s holds %d samples of %s up to %v, want at least 2", forwarder.name, want, rwCounter, at)
	}
	began := time.Now()
	deadline := began.Add(2 * time.Minute) // only against a hang
	for _, r := range receivers {
		for {
			if want, err = forwarder.count("1m", at); err != nil {
				t.Fatalf("%s: count samples: %v", forwarder.name, err)
			}
			got, err := r.count("1m", at)
			if err == nil && got == want {
				t.Logf("%s: the same %d samples as %s after %v", r.name, want, forwarder.name, time.Since(began).Round(time.Millisecond))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s holds %d samples of %s up to %v (error %v), %s %d",
					r.name, got, rwCounter, at, err, forwarder.name, want)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
}

// rwInstant is a time just before now, off the millisecond grid of scrape
// timestamps, whose samples have been scraped and sent (batch_send_deadline
// is 1 s).
func rwInstant() time.Time {
	return time.Now().Add(-2 * time.Second).Truncate(time.Millisecond).Add(500 * time.Microsecond)
}

// rwWaitInstant polls until the forwarder holds at least n samples of
// rwCounter in the minute up to rwInstant() and returns that instant.
func rwWaitInstant(t *testing.T, forwarder rwEndpoint, n int) time.Time {
	t.Helper()
	var at time.Time
	eventually(t, 2*time.Minute, func() string { // only against a hang
		at = rwInstant()
		if got, err := forwarder.count("1m", at); err != nil || got < n {
			return fmt.Sprintf("%s holds %d samples of %s up to %v (error %v), want %d", forwarder.name, got, rwCounter, at, err, n)
		}
		return ""
	})
	return at
}

// rwReceiver is a remote-write receiver peer: a real Prometheus or a real
// VictoriaMetrics.
type rwReceiver struct {
	name, glob string
	start      func(t *testing.T, bin, addr string) rwEndpoint
	bin, addr  string // found by rwReceivers
}

// rwReceivers returns the receiver peers that are built, each with a free
// address. A missing one gets a subtest of its own that skips naming it
// (fails under CI=true), so that the rest of the test still runs.
func rwReceivers(t *testing.T) []rwReceiver {
	t.Helper()
	var found []rwReceiver
	for _, r := range []rwReceiver{
		{name: "prometheus", glob: "prometheus-v*/prometheus", start: startPromReceiver},
		{name: "victoria-metrics", glob: "victoria-metrics-*/victoria-metrics", start: startVictoriaMetrics},
	} {
		if r.bin = testkit.LookCachedPeer(r.glob); r.bin == "" {
			t.Run(r.name, func(t *testing.T) { cachedPeer(t, r.glob) })
			continue
		}
		r.addr = freePort(t)
		found = append(found, r)
	}
	return found
}

// rwURLs are the receivers' remote-write URLs.
func rwURLs(rs []rwReceiver) []string {
	var urls []string
	for _, r := range rs {
		urls = append(urls, "http://"+r.addr+"/api/v1/write")
	}
	return urls
}

// TestRemoteWriteOut has `panoptes server` scrape a target with known values
// and remote-write to a real Prometheus and a real VictoriaMetrics: both
// receivers and the server itself must hold the same series with the same
// labels (job, instance, static and external labels) and values, and
// eventually the same raw samples. A receiver
// whose peer is missing is left out (and reported by a subtest).
func TestRemoteWriteOut(t *testing.T) {
	rs := rwReceivers(t)
	var recvs []rwEndpoint
	for _, r := range rs {
		recvs = append(recvs, r.start(t, r.bin, r.addr))
	}
	target := rwTarget(t)
	server := startForwarder(t, rwConfig(t, target, rwURLs(rs)...))

	remote := rwExpected(target, map[string]string{"replica": "e2e"})
	server.waitSeries(t, rwExpected(target, nil), 2*time.Minute)
	if len(recvs) == 0 {
		return
	}
	for _, recv := range recvs {
		recv.waitSeries(t, remote, 2*time.Minute)
	}
	rwWaitSameCount(t, server, rwWaitInstant(t, server, 3), recvs...)
}

// TestRemoteWriteOutRetry starts the receivers only after the server has
// scraped for a while: the server must queue what it scraped, retry, and
// deliver every sample once the receivers come up.
func TestRemoteWriteOutRetry(t *testing.T) {
	rs := rwReceivers(t)
	if len(rs) == 0 {
		return // nothing to retry to; the subtests said which peers are missing
	}
	target := rwTarget(t)
	server := startForwarder(t, rwConfig(t, target, rwURLs(rs)...))

	server.waitSeries(t, rwExpected(target, nil), 2*time.Minute)
	// Scrapes that cannot be delivered yet: wait until the server has
	// failed to send to every receiver and is retrying, and holds a few
	// samples scraped meanwhile.
	eventually(t, 2*time.Minute, func() string { // only against a hang
		retried := scrape(t, server.base+"/metrics")["prometheus_remote_storage_samples_retried_total"]
		for _, u := range rwURLs(rs) {
			if n, _ := seriesValue(retried, "url", u); n == 0 {
				return fmt.Sprintf("%s: no send to the receiver at %s has failed and been retried yet", server.name, u)
			}
		}
		return ""
	})
	down := rwWaitInstant(t, server, 3)
	var recvs []rwEndpoint
	for _, r := range rs {
		recvs = append(recvs, r.start(t, r.bin, r.addr))
	}

	remote := rwExpected(target, map[string]string{"replica": "e2e"})
	for _, recv := range recvs {
		recv.waitSeries(t, remote, 2*time.Minute)
	}
	// Every sample scraped while the receivers were down arrived.
	rwWaitSameCount(t, server, down, recvs...)
}
