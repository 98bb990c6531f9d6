package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"

	"github.com/panoptes-dev/panoptes/internal/testkit"
)

// The server under abuse: targets that answer garbage, errors, too slowly
// or too much; queries that are wrong, too slow or too big; configs that
// do not load; a disk that fills up. Each time the server must say why,
// keep what it had and keep running.

// robustTarget is the part of an /api/v1/targets entry the tests read.
type robustTarget struct {
	Labels     map[string]string `json:"labels"`
	ScrapePool string            `json:"scrapePool"`
	ScrapeURL  string            `json:"scrapeUrl"`
	LastError  string            `json:"lastError"`
	Health     string            `json:"health"`
}

func (rt robustTarget) String() string {
	return fmt.Sprintf("%s %s health=%s lastError=%q", rt.ScrapePool, rt.ScrapeURL, rt.Health, rt.LastError)
}

// robustTargets returns the active targets.
func robustTargets(t *testing.T, base string) []robustTarget {
	t.Helper()
	resp, body := get(t, base+"/api/v1/targets?state=active")
	var r apiResult
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		t.Fatalf("/api/v1/targets: HTTP %d: %s", resp.StatusCode, body)
	}
	var data struct {
		ActiveTargets []robustTarget `json:"activeTargets"`
	}
	if err := json.Unmarshal(r.Data, &data); err != nil {
		t.Fatalf("/api/v1/targets: %v: %s", err, body)
	}
	return data.ActiveTargets
}

// robustWaitTargets polls the active targets until check returns no
// complaint, and fails the test with the last complaint after timeout.
func robustWaitTargets(t *testing.T, base string, timeout time.Duration, check func([]robustTarget) string) []robustTarget {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ts := robustTargets(t, base)
		complaint := check(ts)
		if complaint == "" {
			return ts
		}
		if time.Now().After(deadline) {
			var lines []string
			for _, rt := range ts {
				lines = append(lines, "  "+rt.String())
			}
			t.Fatalf("targets after %s: %s\n%s", timeout, complaint, strings.Join(lines, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// robustAlive fails the test unless the process still runs and answers.
func robustAlive(t *testing.T, p *process, base string) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("the server exited: %v\n%s", p.cmd.ProcessState, p.logs.String())
	default:
	}
	if resp, body := get(t, base+"/-/healthy"); resp.StatusCode != http.StatusOK {
		t.Fatalf("/-/healthy: HTTP %d: %s", resp.StatusCode, body)
	}
	if strings.Contains(p.logs.String(), "panic:") {
		t.Fatalf("the server panicked:\n%s", p.logs.String())
	}
}

// robustQuery runs an instant query and returns the HTTP status with the
// decoded answer, whatever it is.
func robustQuery(t *testing.T, base string, params url.Values) (int, apiResult) {
	t.Helper()
	resp, body := get(t, base+"/api/v1/query?"+params.Encode())
	var r apiResult
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("query %v: HTTP %d, not JSON: %s", params, resp.StatusCode, body)
	}
	return resp.StatusCode, r
}

// robustMetric reads one unlabelled gauge or counter of the server's own
// /metrics; ok is false when the metric is missing.
func robustMetric(t *testing.T, base, name string) (v float64, ok bool) {
	t.Helper()
	mf := scrape(t, base+"/metrics")[name]
	if mf == nil || len(mf.GetMetric()) == 0 {
		return 0, false
	}
	m := mf.GetMetric()[0]
	return m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue(), true
}

// robustWaitMetric polls the server's own metric until it equals want.
func robustWaitMetric(t *testing.T, base, name string, want float64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, ok := robustMetric(t, base, name)
		if ok && v == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v (present: %v) after %s, want %v", name, v, ok, timeout, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// robustServe starts a loopback HTTP server, closed when the test ends (after
// the panoptes processes started later, whose cleanups run first), and
// returns its host:port.
func robustServe(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// robustCounted counts the requests h answers (the scrapes of a target).
func robustCounted(h http.HandlerFunc) (http.HandlerFunc, *atomic.Int64) {
	n := new(atomic.Int64)
	return func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}, n
}

// robustExposition serves a fixed body in the text format 0.0.4.
func robustExposition(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = io.WriteString(w, body)
	}
}

// TestServerBadTargets: one job with a good target and four that fail a
// scrape in four ways (a body that is no exposition, HTTP 500, no answer
// within scrape_timeout, a body over body_size_limit), and a job whose
// target exceeds sample_limit. Each bad target is down with the reason as
// its lastError and up == 0; the good one is up and its samples are
// stored; the server stays up throughout.
func TestServerBadTargets(t *testing.T) {
	t.Parallel()
	const goodBody = "# TYPE robust_good_metric gauge\nrobust_good_metric{flavour=\"fine\"} 42\n"
	// Every target counts its scrapes (see the end).
	scrapes := map[string]*atomic.Int64{}
	serve := func(kind string, h http.HandlerFunc) string {
		h, scrapes[kind] = robustCounted(h)
		return robustServe(t, h)
	}
	good := serve("good", robustExposition(goodBody))
	// Bytes of a gzip stream sent without Content-Encoding. (A body that
	// starts with a NUL byte would not do: Prometheus's text lexer takes NUL
	// for the end of input, so such a body is an empty exposition and the
	// target is up with no samples.)
	garbage := serve("garbage", robustExposition("\x1f\x8b\x08\x00\xde\xad\xbe\xef garbage {{{ \xff\xfe\n"))
	broken := serve("http500", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	// The slow target answers only after the scraper gave up (or long after
	// any scrape_timeout).
	slow := serve("slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done(): // the scraper gave up
		case <-time.After(30 * time.Second):
		}
		robustExposition("robust_slow_metric 1\n")(w, r)
	})
	var big strings.Builder
	big.WriteString("# TYPE robust_big_metric gauge\n")
	for i := range 200 {
		fmt.Fprintf(&big, "robust_big_metric{i=\"%03d\"} %d\n", i, i)
	}
	bigAddr := serve("big", robustExposition(big.String()))
	var ten strings.Builder
	ten.WriteString("# TYPE robust_ten_metric gauge\n")
	for i := range 10 {
		fmt.Fprintf(&ten, "robust_ten_metric{i=\"%d\"} %d\n", i, i)
	}
	tenAddr := serve("sample_limit", robustExposition(ten.String()))
	if big.Len() <= 1024 || len(goodBody) >= 1024 {
		t.Fatal("the bodies do not straddle body_size_limit")
	}

	// scrape_timeout is as long as the interval allows: a loaded machine
	// may take a while to answer even the good target.
	cfg := writeFile(t, t.TempDir(), "prometheus.yml", fmt.Sprintf(`
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: robust
    scrape_interval: 1s
    scrape_timeout: 1s
    body_size_limit: 1KB
    static_configs:
      - targets: [%q]
        labels: {kind: good}
      - targets: [%q]
        labels: {kind: garbage}
      - targets: [%q]
        labels: {kind: http500}
      - targets: [%q]
        labels: {kind: slow}
      - targets: [%q]
        labels: {kind: big}
  - job_name: limited
    scrape_interval: 1s
    scrape_timeout: 1s
    sample_limit: 5
    static_configs:
      - targets: [%q]
        labels: {kind: sample_limit}
`, good, garbage, broken, slow, bigAddr, tenAddr))
	p, base := startServer(t, "--config.file="+cfg)

	// The stable part of the error text of prometheus/scrape for each way
	// of failing.
	want := map[string]struct{ health, lastError string }{
		"good":         {"up", ""},
		"garbage":      {"down", "expected a valid start token"},
		"http500":      {"down", "server returned HTTP status 500 Internal Server Error"},
		"slow":         {"down", "context deadline exceeded"},
		"big":          {"down", "body size limit exceeded"},
		"sample_limit": {"down", "sample limit exceeded"},
	}
	targets := robustWaitTargets(t, base, 30*time.Second, func(ts []robustTarget) string {
		if len(ts) != len(want) {
			return fmt.Sprintf("%d active targets, want %d", len(ts), len(want))
		}
		for _, rt := range ts {
			w, ok := want[rt.Labels["kind"]]
			switch {
			case !ok:
				return "unexpected target " + rt.String()
			case rt.Health != w.health:
				return fmt.Sprintf("%s: health %s, want %s", rt.Labels["kind"], rt.Health, w.health)
			case w.lastError == "" && rt.LastError != "":
				return fmt.Sprintf("%s: lastError %q, want none", rt.Labels["kind"], rt.LastError)
			case !strings.Contains(rt.LastError, w.lastError):
				return fmt.Sprintf("%s: lastError %q, want it to contain %q", rt.Labels["kind"], rt.LastError, w.lastError)
			}
		}
		return ""
	})
	for _, rt := range targets {
		t.Logf("%-12s %s", rt.Labels["kind"], rt)
	}

	// up says the same: 1 for the good target, 0 for every bad one.
	waitQuery(t, base, `up`, 20*time.Second, func(s []vectorSample) bool {
		if len(s) != len(want) {
			return false
		}
		for _, v := range s {
			wantUp := "0"
			if want[v.Metric["kind"]].health == "up" {
				wantUp = "1"
			}
			if v.Value[1] != wantUp {
				return false
			}
		}
		return true
	})
	// The good target's samples are stored; a failed scrape stores none of
	// its samples (sample_limit rejects the whole scrape).
	got := waitQuery(t, base, `robust_good_metric`, 20*time.Second, nil)
	if len(got) != 1 || got[0].Value[1] != "42" || got[0].Metric["job"] != "robust" || got[0].Metric["flavour"] != "fine" {
		t.Errorf("robust_good_metric: %v, want one series of value 42 with job=robust, flavour=fine", got)
	}
	for _, expr := range []string{`robust_big_metric`, `robust_ten_metric`, `robust_slow_metric`} {
		if s := instantQuery(t, base, expr); len(s) != 0 {
			t.Errorf("%s: stored from a failed scrape: %v", expr, s)
		}
	}

	// Two more rounds of failures later (every target scraped twice more,
	// counted by the targets themselves), the server still runs and the
	// good target is still up. Each target's scrapes follow one another, so
	// once a target is asked for the second time, the first of these
	// scrapes is stored.
	from := map[string]int64{}
	for kind, n := range scrapes {
		from[kind] = n.Load()
	}
	eventually(t, 2*time.Minute, func() string { // only against a hang
		var behind []string
		for kind, n := range scrapes {
			if got := n.Load() - from[kind]; got < 2 {
				behind = append(behind, fmt.Sprintf("%s scraped %d more times, want 2", kind, got))
			}
		}
		sort.Strings(behind)
		return strings.Join(behind, "; ")
	})
	robustAlive(t, p, base)
	// The good target's latest up, of a scrape after the rounds began.
	if s := instantQuery(t, base, `up{kind="good"} == 1`); len(s) != 1 {
		t.Errorf("after more scrapes the good target is not up: %v", s)
	}
}

// TestServerRejectsBadQueries: a syntax error is bad_data (400) naming the
// line and column; a query running past --query.timeout is cut off with
// errorType timeout (503); one holding more than --query.max-samples fails
// with errorType execution (422) naming the limit. Queries within the
// limits still work on the same servers.
func TestServerRejectsBadQueries(t *testing.T) {
	t.Parallel()
	now := time.Now().Truncate(time.Second)

	t.Run("syntax", func(t *testing.T) {
		t.Parallel()
		_, base := startServer(t)
		for _, c := range []struct{ query, prefix string }{
			{"foo bar", `1:5: parse error: unexpected identifier "bar"`},
			{"sum(up)\n  by (job) foo", `2:12: parse error: unexpected identifier "foo"`},
			{"sum(rate(foo[5m])", `1:18: parse error: unclosed left parenthesis`},
		} {
			for _, endpoint := range []string{"query", "query_range"} {
				params := url.Values{"query": {c.query}}
				if endpoint == "query_range" {
					params.Set("start", fmt.Sprint(now.Add(-time.Hour).Unix()))
					params.Set("end", fmt.Sprint(now.Unix()))
					params.Set("step", "60")
				}
				resp, body := get(t, base+"/api/v1/"+endpoint+"?"+params.Encode())
				var r apiResult
				if err := json.Unmarshal(body, &r); err != nil {
					t.Fatalf("%s %q: HTTP %d, not JSON: %s", endpoint, c.query, resp.StatusCode, body)
				}
				if resp.StatusCode != http.StatusBadRequest || r.Status != "error" || r.ErrorType != "bad_data" {
					t.Errorf("%s %q: HTTP %d %s/%s, want 400 error/bad_data: %s", endpoint, c.query, resp.StatusCode, r.Status, r.ErrorType, body)
				}
				if !strings.Contains(r.Error, c.prefix) {
					t.Errorf("%s %q: error %q, want it to contain %q", endpoint, c.query, r.Error, c.prefix)
				}
			}
		}
	})

	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		const timeout = time.Second
		p, base := startServer(t, "--web.enable-remote-write-receiver", "--query.timeout="+timeout.String())
		// 500 series of a counter over the last hour, every 15 s.
		req := &prompb.WriteRequest{}
		for s := range 500 {
			ts := prompb.TimeSeries{Labels: []prompb.Label{
				{Name: "__name__", Value: "robust_heavy_total"},
				{Name: "series", Value: fmt.Sprint(s)},
			}}
			for i := range 240 {
				ts.Samples = append(ts.Samples, prompb.Sample{
					Timestamp: now.Add(time.Duration(i-240) * 15 * time.Second).UnixMilli(),
					Value:     float64(i * s),
				})
			}
			req.Timeseries = append(req.Timeseries, ts)
		}
		if err := oraclePush(base, req); err != nil {
			t.Fatal(err)
		}
		// A light query answers within the limit (a few milliseconds of
		// work; a loaded machine that stalls it past the limit gets another
		// try)...
		eventually(t, time.Minute, func() string { // only against a hang
			code, r := robustQuery(t, base, url.Values{"query": {`count(robust_heavy_total)`}})
			if code != http.StatusOK || r.Status != "success" || !strings.Contains(string(r.Data), `"500"`) {
				return fmt.Sprintf("count(robust_heavy_total): HTTP %d %s %s: %s", code, r.ErrorType, r.Error, r.Data)
			}
			return ""
		})
		// ...a heavy one does not: 36000 steps, each a median of the 240
		// samples of each of the 500 series (a sort each). Without the limit
		// it took 3 minutes on the loaded 2-core machine this was written on
		// (race build), and a tenth of it a step of 1 s took 5 s unloaded
		// without the race detector: tens of times the limit, which no
		// machine is fast enough to beat, and a loaded one only takes
		// longer. So the answer must be the timeout, whatever the time it
		// took; had the limit not cut the query off, get's own 30 s
		// deadline fails the test instead of waiting for it.
		heavy := `sum_over_time(sum(quantile_over_time(0.5, robust_heavy_total[1h]))[1h:100ms])`
		code, r := robustQuery(t, base, url.Values{"query": {heavy}})
		if code != http.StatusServiceUnavailable || r.ErrorType != "timeout" {
			t.Fatalf("heavy query with --query.timeout=%s: HTTP %d %s %q, want 503 timeout", timeout, code, r.ErrorType, r.Error)
		}
		if !strings.Contains(r.Error, "query timed out in") {
			t.Errorf("heavy query: error %q, want it to say the query timed out", r.Error)
		}
		t.Logf("heavy query cut off: %s", r.Error)
		robustAlive(t, p, base)
	})

	t.Run("max-samples", func(t *testing.T) {
		t.Parallel()
		p, base := startServer(t, "--web.enable-remote-write-receiver", "--query.max-samples=10")
		ts := prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: "robust_many"}}}
		for i := range 60 {
			ts.Samples = append(ts.Samples, prompb.Sample{
				Timestamp: now.Add(time.Duration(i-60) * 15 * time.Second).UnixMilli(),
				Value:     float64(i),
			})
		}
		if err := oraclePush(base, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{ts}}); err != nil {
			t.Fatal(err)
		}
		at := fmt.Sprint(now.Unix())
		// One sample is within the limit...
		code, r := robustQuery(t, base, url.Values{"query": {`robust_many`}, "time": {at}})
		if code != http.StatusOK || !strings.Contains(string(r.Data), `"59"`) {
			t.Fatalf("robust_many: HTTP %d %s %s: %s", code, r.ErrorType, r.Error, r.Data)
		}
		// ...sixty are not.
		for _, expr := range []string{`robust_many[1h]`, `count_over_time(robust_many[1h])`} {
			code, r = robustQuery(t, base, url.Values{"query": {expr}, "time": {at}})
			if code != http.StatusUnprocessableEntity || r.Status != "error" || r.ErrorType != "execution" {
				t.Errorf("%s with --query.max-samples=10: HTTP %d %s/%s %q, want 422 error/execution", expr, code, r.Status, r.ErrorType, r.Error)
			}
			if !strings.Contains(r.Error, "query processing would load too many samples into memory") {
				t.Errorf("%s: error %q, want it to name the sample limit", expr, r.Error)
			}
		}
		robustAlive(t, p, base)
	})
}

// TestServerReload: POST /-/reload and SIGHUP apply a new config file; a
// config that does not load is rejected as a whole (HTTP 500 with the
// reason, prometheus_config_last_reload_successful 0) and the running one
// stays; a good one afterwards applies and sets the gauge back to 1. A bad
// config at start stops the server with an error naming the file.
func TestServerReload(t *testing.T) {
	t.Parallel()
	x := robustServe(t, robustExposition("robust_reload_metric{from=\"x\"} 1\n"))
	yHandler, yScrapes := robustCounted(robustExposition("robust_reload_metric{from=\"y\"} 2\n"))
	y := robustServe(t, yHandler)
	// z is the target of the configs that do not load: never scraped.
	zHandler, zScrapes := robustCounted(robustExposition("robust_reload_metric{from=\"z\"} 3\n"))
	z := robustServe(t, zHandler)
	dir := t.TempDir()
	config := func(job, target string) string {
		return fmt.Sprintf("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: %s\n    static_configs:\n      - targets: [%q]\n", job, target)
	}
	cfg := writeFile(t, dir, "prometheus.yml", config("a", x))
	p, base := startServer(t, "--config.file="+cfg, "--web.enable-lifecycle") // POST /-/reload is off by default

	only := func(job, target string) func([]robustTarget) string {
		return func(ts []robustTarget) string {
			if len(ts) != 1 || ts[0].ScrapePool != job || !strings.Contains(ts[0].ScrapeURL, target) || ts[0].Health != "up" {
				return fmt.Sprintf("want only job %s scraping %s, up", job, target)
			}
			return ""
		}
	}
	robustWaitTargets(t, base, 30*time.Second, only("a", x))
	robustWaitMetric(t, base, "prometheus_config_last_reload_successful", 1, 30*time.Second)

	reload := func() (int, string) {
		t.Helper()
		resp, err := http.Post(base+"/-/reload", "", nil) //nolint:noctx // loopback
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	hup := func() {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	statusConfig := func() string {
		t.Helper()
		_, body := get(t, base+"/api/v1/status/config")
		var r apiResult
		var data struct {
			YAML string `json:"yaml"`
		}
		if err := json.Unmarshal(body, &r); err != nil || json.Unmarshal(r.Data, &data) != nil {
			t.Fatalf("/api/v1/status/config: %s", body)
		}
		return data.YAML
	}

	// A → B by POST /-/reload.
	writeFile(t, dir, "prometheus.yml", config("b", y))
	if code, body := reload(); code != http.StatusOK {
		t.Fatalf("POST /-/reload with a good config: HTTP %d: %s", code, body)
	}
	robustWaitTargets(t, base, 30*time.Second, only("b", y))
	waitQuery(t, base, `up{job="b"} == 1`, 20*time.Second, nil)
	robustWaitMetric(t, base, "prometheus_config_last_reload_successful", 1, 30*time.Second)

	// A relabel regex that does not compile, by SIGHUP.
	loadedAt, _ := robustMetric(t, base, "prometheus_config_last_reload_success_timestamp_seconds")
	writeFile(t, dir, "prometheus.yml", config("c", z)+"    relabel_configs:\n      - source_labels: [__address__]\n        regex: \"a(b\"\n        action: keep\n")
	failures := strings.Count(p.logs.String(), "config reload failed")
	hup()
	robustWaitMetric(t, base, "prometheus_config_last_reload_successful", 0, 30*time.Second)
	logs := p.logs.String()
	if strings.Count(logs, "config reload failed") != failures+1 || !strings.Contains(logs, "missing closing )") {
		t.Errorf("SIGHUP with a bad regex: the log does not report the failed reload with its reason:\n%s", logs)
	}

	// An unknown field, by POST /-/reload.
	writeFile(t, dir, "prometheus.yml", config("c", z)+"    bogus_field: 1\n")
	code, body := reload()
	if code != http.StatusInternalServerError {
		t.Errorf("POST /-/reload with an unknown field: HTTP %d, want 500: %s", code, body)
	}
	for _, want := range []string{"failed to reload config", cfg, "field bogus_field not found"} {
		if !strings.Contains(body, want) {
			t.Errorf("POST /-/reload with an unknown field: answer %q lacks %q", body, want)
		}
	}

	// The running config stays: still job b, scraping y. Both reloads have
	// been processed (the POST answered, the gauge went to 0 on SIGHUP).
	// Their scrape config would have replaced job b's scrape pool at once;
	// their targets reach the scrape manager through discovery, which sends
	// at most every 5 s, and the scrape manager takes them at most every
	// 5 s. So wait until y has been scraped 11 more times (10 intervals of
	// 1 s, however long a loaded machine takes): a half-applied config would
	// have stopped them or shown in the targets by then.
	from := yScrapes.Load()
	eventually(t, 2*time.Minute, func() string { // only against a hang
		if n := yScrapes.Load() - from; n < 11 {
			return fmt.Sprintf("y scraped %d times since the failed reloads, want 11: was job b dropped?", n)
		}
		return ""
	})
	robustWaitTargets(t, base, 0, only("b", y))
	if n := zScrapes.Load(); n != 0 {
		t.Errorf("the target of the configs that did not load was scraped %d times", n)
	}
	if at, _ := robustMetric(t, base, "prometheus_config_last_reload_success_timestamp_seconds"); at != loadedAt || at == 0 {
		t.Errorf("prometheus_config_last_reload_success_timestamp_seconds = %v after failed reloads, want %v (config B's)", at, loadedAt)
	}
	if yaml := statusConfig(); !strings.Contains(yaml, "job_name: b") || strings.Contains(yaml, "job_name: c") {
		t.Errorf("/api/v1/status/config after failed reloads is not config B:\n%s", yaml)
	}
	if v, _ := robustMetric(t, base, "prometheus_config_last_reload_successful"); v != 0 {
		t.Errorf("prometheus_config_last_reload_successful = %v after a failed reload, want 0", v)
	}
	waitQuery(t, base, `up{job="b"} == 1`, 30*time.Second, nil)
	robustAlive(t, p, base)

	// A good config again, by SIGHUP: applied, and the gauge is back to 1.
	writeFile(t, dir, "prometheus.yml", config("a", x))
	hup()
	robustWaitMetric(t, base, "prometheus_config_last_reload_successful", 1, 30*time.Second)
	robustWaitTargets(t, base, 30*time.Second, only("a", x))
	if yaml := statusConfig(); !strings.Contains(yaml, "job_name: a") {
		t.Errorf("/api/v1/status/config after the good reload is not config A:\n%s", yaml)
	}

	// A bad config at start: the server exits non-zero naming the file.
	bad := writeFile(t, dir, "bad.yml", config("d", x)+"    bogus_field: 1\n")
	q := start(t, panoptesBin, "server", "--web.listen-address=127.0.0.1:0",
		"--storage.tsdb.path="+filepath.Join(dir, "never"), "--config.file="+bad)
	select {
	case <-q.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the server started on a bad config:\n%s", q.logs.String())
	}
	if code := q.cmd.ProcessState.ExitCode(); code == 0 {
		t.Errorf("a bad config at start: exit status 0, want non-zero")
	}
	for _, want := range []string{bad, "field bogus_field not found"} {
		if !strings.Contains(q.logs.String(), want) {
			t.Errorf("a bad config at start: the output lacks %q:\n%s", want, q.logs.String())
		}
	}
	if strings.Contains(q.logs.String(), "msg=listening") {
		t.Errorf("a bad config at start: the server listened before failing:\n%s", q.logs.String())
	}
}

// robustDiskBatch is one remote-write request of the full-disk test: one
// sample of each series at ts, the value naming batch and series.
func robustDiskBatch(batch, series int, ts time.Time) *prompb.WriteRequest {
	req := &prompb.WriteRequest{}
	for s := range series {
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
			Labels: []prompb.Label{
				{Name: "__name__", Value: "robust_disk"},
				{Name: "series", Value: fmt.Sprintf("%04d", s)},
			},
			Samples: []prompb.Sample{{Timestamp: ts.UnixMilli(), Value: robustDiskValue(batch, s)}},
		})
	}
	return req
}

func robustDiskValue(batch, series int) float64 { return float64(batch*10000+series) + 0.25 }

// robustDiskStored counts, for each batch of the full-disk test, the samples
// the server at base has of it (checking each one's value).
func robustDiskStored(t *testing.T, base string, begin time.Time, batches int) []int {
	t.Helper()
	params := url.Values{
		"query": {fmt.Sprintf("robust_disk[%ds]", batches+1)},
		"time":  {fmt.Sprint(begin.Add(time.Duration(batches) * time.Second).Unix())},
	}
	code, r := robustQuery(t, base, params)
	if code != http.StatusOK {
		t.Fatalf("query %v: HTTP %d %s %s", params, code, r.ErrorType, r.Error)
	}
	var matrix struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		} `json:"result"`
	}
	if err := json.Unmarshal(r.Data, &matrix); err != nil {
		t.Fatal(err)
	}
	stored := make([]int, batches)
	for _, s := range matrix.Result {
		sn, err := strconv.Atoi(s.Metric["series"])
		if err != nil {
			t.Fatalf("series label %q: %v", s.Metric["series"], err)
		}
		for _, v := range s.Values {
			ts, _ := v[0].(float64)
			b := int(math.Round(ts - float64(begin.Unix())))
			if b < 0 || b >= batches || v[1] != fmt.Sprint(robustDiskValue(b, sn)) {
				t.Errorf("series %s: unexpected sample %v", s.Metric["series"], v)
				continue
			}
			stored[b]++
		}
	}
	return stored
}

// robustFill writes a file until the filesystem has no space left.
func robustFill(path string) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	for _, size := range []int{1 << 20, 4096, 1} {
		buf := make([]byte, size)
		for {
			m, err := f.Write(buf)
			n += int64(m)
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			if err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// robustMount mounts a tmpfs of size on a fresh directory, unmounted when
// the test ends (after the processes started later are stopped). When that
// is not possible the test skips, or fails under CI=true (testkit.Missing).
func robustMount(t *testing.T, size string) string {
	t.Helper()
	testkit.RequireRoot(t, "to mount a small tmpfs")
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		testkit.Missing(t, "tmpfs", fmt.Sprintf("cannot mount a tmpfs on %s (%v): %s", mnt, err, bytes.TrimSpace(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}

// repairedRE is how the TSDB reports, at open, a WAL it had to cut short.
var repairedRE = regexp.MustCompile(`msg="Encountered WAL read error, attempting repair".*err="([^"]*)"`)

// TestServerFullDisk: the TSDB's filesystem (a 24 MiB tmpfs) fills up
// under remote write. Ingestion stops with an error that says why (HTTP 500
// to the writer, one log line), the server keeps running and answering
// queries, ingestion resumes by itself once space is freed, and after a
// restart on the same directory every acknowledged sample is there and no
// refused one is.
//
// The server stops ingesting while less than --storage.tsdb.min-free-space
// is free rather than letting the write-ahead log meet ENOSPC: Prometheus's
// tsdb/wlog keeps a failed record in its page buffer and writes it later
// (prometheus/prometheus#13027), so refused samples came back after a
// restart and, when the record spanned WAL pages, the WAL was torn and the
// next start cut it, losing every sample acknowledged after space returned.
// Both sizes of write are run: 500 series per write fit in a WAL page, 4000
// span several.
func TestServerFullDisk(t *testing.T) {
	t.Run("small", func(t *testing.T) { robustFullDisk(t, 500) })
	t.Run("large", func(t *testing.T) { robustFullDisk(t, 4000) })
}

// robustFullDisk runs the full-disk scenario with writes of the given
// number of series (one sample each).
func robustFullDisk(t *testing.T, series int) {
	mnt := robustMount(t, "24m")
	data := filepath.Join(mnt, "data")
	p, base := startServer(t, "--web.enable-remote-write-receiver", "--storage.tsdb.path="+data, "--storage.tsdb.min-free-space=2MB")

	begin := time.Now().Add(-30 * time.Minute).Truncate(time.Second)
	at := func(b int) time.Time { return begin.Add(time.Duration(b) * time.Second) }
	const (
		before = 0 // acknowledged before the disk filled
		full   = 1 // refused while it was full
		after  = 2 // acknowledged after space returned
	)
	phase := map[int]int{}
	batch := 0
	push := func() error {
		b := batch
		batch++
		return oraclePush(base, robustDiskBatch(b, series, at(b)))
	}
	for range 20 {
		if err := push(); err != nil {
			t.Fatalf("batch %d before the disk filled: %v", batch-1, err)
		}
		phase[batch-1] = before
	}

	filler := filepath.Join(mnt, "filler")
	n, err := robustFill(filler)
	if err != nil {
		t.Fatalf("fill %s: %v", mnt, err)
	}
	t.Logf("filler: %d bytes; the filesystem is full", n)

	// The first write with the disk full is refused before it reaches the WAL.
	failed := push()
	phase[batch-1] = full
	if failed == nil {
		t.Fatalf("remote write still succeeds with the disk full")
	}
	t.Logf("batch %d failed with the disk full: %v", batch-1, failed)
	// 507 Insufficient Storage: a 5xx, which remote-write senders retry,
	// refused by the disk guard before the body is read.
	if !strings.HasPrefix(failed.Error(), "507 ") || !strings.Contains(failed.Error(), "min-free-space") {
		t.Errorf("remote write with the disk full: %v, want HTTP 507 naming --storage.tsdb.min-free-space", failed)
	}
	for range 3 {
		if err := push(); err == nil {
			t.Errorf("batch %d was acknowledged with the disk still full", batch-1)
		}
		phase[batch-1] = full
	}
	if !strings.Contains(p.logs.String(), "storage is nearly full") {
		t.Errorf("the server does not log the full disk:\n%s", p.logs.String())
	}
	robustAlive(t, p, base)
	// Queries answer from memory, with what was acknowledged.
	if s := instantQuery(t, base, fmt.Sprintf(`count(robust_disk @ %d)`, at(10).Unix())); len(s) != 1 || s[0].Value[1] != fmt.Sprint(series) {
		t.Errorf("count(robust_disk) with the disk full: %v, want %d", s, series)
	}
	if s := instantQuery(t, base, fmt.Sprintf(`timestamp(robust_disk{series="0000"} @ %d)`, at(batch).Unix())); len(s) != 1 {
		t.Errorf("the latest sample with the disk full: %v", s)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if err := push(); err != nil {
			t.Errorf("batch %d after space returned: %v", batch-1, err)
			phase[batch-1] = full
			continue
		}
		phase[batch-1] = after
	}
	robustAlive(t, p, base)
	// While it runs, the server has exactly what it acknowledged: a
	// refused write was rolled back.
	for b, n := range robustDiskStored(t, base, begin, batch) {
		want := series
		if phase[b] == full {
			want = 0
		}
		if n != want {
			t.Errorf("batch %d before the restart: %d samples stored, want %d (acknowledged: %v)", b, n, want, phase[b] != full)
		}
	}

	p.stop()
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("SIGTERM: exit status %d, want 0:\n%s", code, p.logs.String())
	}
	if !strings.Contains(p.logs.String(), "ingestion resumed") {
		t.Errorf("the server does not log that ingestion resumed:\n%s", p.logs.String())
	}
	q, base := startServer(t, "--web.enable-remote-write-receiver", "--storage.tsdb.path="+data, "--storage.tsdb.min-free-space=2MB")
	robustAlive(t, q, base)
	repaired := repairedRE.FindStringSubmatch(q.logs.String())

	stored := robustDiskStored(t, base, begin, batch)
	var lostBefore, lostAfter, resurrected []int
	for b := range batch {
		switch {
		case phase[b] == before && stored[b] != series:
			lostBefore = append(lostBefore, b)
		case phase[b] == after && stored[b] != series:
			lostAfter = append(lostAfter, b)
		case phase[b] == full && stored[b] != 0:
			resurrected = append(resurrected, b)
		}
	}
	t.Logf("samples stored after the restart, per batch: %v", stored)
	if len(lostBefore) > 0 {
		t.Errorf("batches acknowledged before the disk filled are lost after the restart: %v", lostBefore)
	}
	if len(resurrected) > 0 {
		t.Errorf("batches refused with HTTP 500 while the disk was full are stored after the restart: %v", resurrected)
	}
	if len(lostAfter) > 0 {
		t.Errorf("batches acknowledged after space returned are lost after the restart: %v", lostAfter)
	}
	if repaired != nil {
		t.Errorf("the WAL had to be repaired at start (%s): the full disk tore it", repaired[1])
	}
}
