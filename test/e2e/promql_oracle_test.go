package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"go.yaml.in/yaml/v3"
)

// The oracle test writes the same samples into a real Prometheus (at the
// version of the embedded prometheus/prometheus packages) and into the
// system under test, runs the battery in testdata/promql/battery.yaml
// against both, and requires the same answers. Prometheus is the oracle:
// whatever it answers is right by definition.
//
// PANOPTES_ORACLE_SUT=prometheus makes the system under test a second
// Prometheus, which checks the battery and this harness themselves (every
// query must then agree with itself).

const (
	// oracleStep is the nominal interval between two samples of a series.
	oracleStep = 15 * time.Second
	// oracleSpan is the length of the data window. It stays under an hour
	// because a TSDB head rejects samples older than its newest sample
	// minus half a block range (1 h): a receiver that also stores samples
	// of its own at "now" would refuse anything older than that.
	oracleSpan = 55 * time.Minute
	// oracleBatch is how much time one remote-write request covers; the
	// requests go out in time order, as a receiver without an
	// out-of-order window requires.
	oracleBatch = 10 * time.Minute
	// oracleResetStep is where the one counter reset happens.
	oracleResetStep = 120
)

// oracleSeries is one generated series: sorted labels and its samples.
type oracleSeries struct {
	labels  []prompb.Label
	samples []prompb.Sample
}

// name returns the series' metric name.
func (s *oracleSeries) name() string { return s.label("__name__") }

// label returns the value of the label name, or "".
func (s *oracleSeries) label(name string) string {
	for _, l := range s.labels {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

// oracleData is the whole generated data set.
type oracleData struct {
	// start and end bound the window; every sample lies in [start, end).
	start, end time.Time
	series     []*oracleSeries
}

// oracleInstances are the scrape targets the data pretends to come from.
var oracleInstances = []struct{ job, instance string }{
	{"api", "api-0:8080"},
	{"api", "api-1:8080"},
	{"api", "api-2:8080"},
	{"worker", "worker-0:9100"},
	{"worker", "worker-1:9100"},
}

// oracleBuckets are the upper bounds of the classic histogram, and
// oracleBucketMid a typical observation in each bucket (for the _sum).
var (
	oracleBuckets   = []string{"0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"}
	oracleBucketMid = []float64{0.03, 0.07, 0.2, 0.4, 0.8, 2, 5}
)

// oracleGenerate builds the data set for the window ending at end. Every
// value and timestamp is a pure function of end, so the two receivers get
// byte-identical requests. Timestamps are jittered by up to a second
// around the 15 s grid so that rate extrapolation, irate and the
// lookback see irregular intervals, as real scrapes produce.
func oracleGenerate(end time.Time) *oracleData {
	d := &oracleData{start: end.Add(-oracleSpan), end: end}
	steps := int(oracleSpan / oracleStep)
	startMs := d.start.UnixMilli()
	add := func(lbls map[string]string, n int, val func(i int) float64) *oracleSeries {
		s := &oracleSeries{}
		for k, v := range lbls {
			s.labels = append(s.labels, prompb.Label{Name: k, Value: v})
		}
		sort.Slice(s.labels, func(a, b int) bool { return s.labels[a].Name < s.labels[b].Name })
		idx := len(d.series)
		for i := 0; i < n; i++ {
			jitter := int64((idx*137 + i*61) % 997)
			s.samples = append(s.samples, prompb.Sample{
				Timestamp: startMs + int64(i)*oracleStep.Milliseconds() + jitter,
				Value:     val(i),
			})
		}
		d.series = append(d.series, s)
		return s
	}

	// Counters, one of which (api-1 GET 200) restarts from zero midway.
	k := 0
	for _, in := range oracleInstances {
		for _, method := range []string{"GET", "POST"} {
			for _, code := range []string{"200", "500"} {
				k++
				kk, reset := k, in.instance == "api-1:8080" && method == "GET" && code == "200"
				total := 0.0
				add(map[string]string{"__name__": "oracle_http_requests_total", "job": in.job, "instance": in.instance,
					"method": method, "code": code}, steps, func(i int) float64 {
					inc := float64((kk*7+i*13)%17) + 0.25*float64(kk%4)
					if code == "500" {
						inc /= 10
					}
					if reset && i == oracleResetStep {
						total = 0
					}
					total += inc
					return total
				})
			}
		}
	}

	// Gauges: temperatures swing, memory grows with a wobble, queue
	// lengths are small integers that hold for a minute at a time.
	for n, in := range oracleInstances {
		for m, sensor := range []string{"core0", "core1"} {
			kk := float64(2*n + m)
			add(map[string]string{"__name__": "oracle_cpu_temperature_celsius", "job": in.job, "instance": in.instance,
				"sensor": sensor}, steps, func(i int) float64 {
				return 40 + kk + 8*math.Sin(float64(i)/9+kk)
			})
		}
		kk := float64(n + 1)
		add(map[string]string{"__name__": "oracle_memory_used_bytes", "job": in.job, "instance": in.instance}, steps,
			func(i int) float64 {
				return math.Round(1e9*kk + float64(i)*kk*1.5e5 + 3e6*math.Sin(float64(i)/5))
			})
		version := "1.2.3"
		if in.job == "worker" {
			version = "2.0.0"
		}
		add(map[string]string{"__name__": "oracle_build_info", "job": in.job, "instance": in.instance,
			"version": version}, steps, func(int) float64 { return 1 })
		if in.job == "worker" {
			for m, queue := range []string{"high", "low"} {
				kk := n + m
				add(map[string]string{"__name__": "oracle_queue_length", "job": in.job, "instance": in.instance,
					"queue": queue}, steps, func(i int) float64 {
					return float64(((i / 4) * (kk + 3)) % 11)
				})
			}
		}
	}

	// Classic histograms for the api instances: cumulative _bucket{le},
	// _sum and _count, all advancing together.
	for n, in := range oracleInstances[:3] {
		cum := make([][]float64, len(oracleBuckets)) // cum[b][i]
		sum := make([]float64, steps)
		for b := range cum {
			cum[b] = make([]float64, steps)
		}
		running, total := make([]float64, len(oracleBuckets)), 0.0
		for i := 0; i < steps; i++ {
			below := 0.0
			for b := range oracleBuckets {
				obs := float64((i*(b+1) + n*3 + b) % 5)
				below += obs
				running[b] += below
				total += obs * oracleBucketMid[b]
				cum[b][i] = running[b]
			}
			sum[i] = total
		}
		for b, le := range oracleBuckets {
			add(map[string]string{"__name__": "oracle_request_duration_seconds_bucket", "job": in.job,
				"instance": in.instance, "le": le}, steps, func(i int) float64 { return cum[b][i] })
		}
		add(map[string]string{"__name__": "oracle_request_duration_seconds_sum", "job": in.job,
			"instance": in.instance}, steps, func(i int) float64 { return sum[i] })
		last := len(oracleBuckets) - 1
		add(map[string]string{"__name__": "oracle_request_duration_seconds_count", "job": in.job,
			"instance": in.instance}, steps, func(i int) float64 { return cum[last][i] })
	}

	// A series that simply stops halfway (no staleness marker: it leaves
	// through the lookback delta), and one that stops two thirds in with
	// an explicit staleness marker, as a scrape of a vanished target ends.
	add(map[string]string{"__name__": "oracle_batch_last_success_timestamp_seconds", "job": "batch",
		"instance": "cron-0"}, steps/2, func(i int) float64 {
		return float64((startMs/1000/300)*300 + int64(i/20)*300)
	})
	eph := add(map[string]string{"__name__": "oracle_ephemeral_sessions", "job": "worker",
		"instance": "worker-1:9100"}, 2*steps/3+1, func(i int) float64 { return float64(i%7) + 0.5 })
	eph.samples[len(eph.samples)-1].Value = math.Float64frombits(value.StaleNaN)
	return d
}

// oracleWrite sends the data set to a remote-write 1.0 receiver (base is
// the server's URL), one request per oracleBatch of time, in time order.
func oracleWrite(t *testing.T, base string, d *oracleData) {
	t.Helper()
	for from := d.start; from.Before(d.end); from = from.Add(oracleBatch) {
		lo, hi := from.UnixMilli(), from.Add(oracleBatch).UnixMilli()
		var req prompb.WriteRequest
		for _, s := range d.series {
			ts := prompb.TimeSeries{Labels: s.labels}
			for _, smp := range s.samples {
				if smp.Timestamp >= lo && smp.Timestamp < hi {
					ts.Samples = append(ts.Samples, smp)
				}
			}
			if len(ts.Samples) > 0 {
				req.Timeseries = append(req.Timeseries, ts)
			}
		}
		if err := oraclePush(base, &req); err != nil {
			t.Fatalf("remote write to %s: %v", base, err)
		}
	}
}

// oraclePush posts one remote-write 1.0 request.
func oraclePush(base string, req *prompb.WriteRequest) error {
	raw, err := req.Marshal()
	if err != nil {
		return fmt.Errorf("marshal write request: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/write", bytes.NewReader(snappy.Encode(nil, raw)))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/x-protobuf")
	hreq.Header.Set("Content-Encoding", "snappy")
	hreq.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		return fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

// oracleConfig writes the configuration both servers run with: no scrape
// jobs, so that the written samples are all they store, and the global
// evaluation interval spelt out because it is the default step of
// subqueries that name none.
func oracleConfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "oracle.yml")
	cfg := "global:\n  scrape_interval: 15s\n  evaluation_interval: 1m\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startPrometheusReceiver runs the Prometheus peer as a remote-write
// receiver and returns its base URL once it is ready.
func startPrometheusReceiver(t *testing.T, cfg string) string {
	t.Helper()
	prom := prometheusPeer(t)
	addr := freePort(t)
	start(t, prom, "--config.file="+cfg, "--storage.tsdb.path="+t.TempDir(),
		"--web.listen-address="+addr, "--web.enable-remote-write-receiver")
	base := "http://" + addr
	waitHTTP(t, base+"/-/ready")
	return base
}

// startSUT starts the system under test with the oracle's configuration:
// `panoptes server`, or a second Prometheus under
// PANOPTES_ORACLE_SUT=prometheus. It is the one place that decides.
func startSUT(t *testing.T, cfg string) string {
	t.Helper()
	if os.Getenv("PANOPTES_ORACLE_SUT") == "prometheus" {
		base := startPrometheusReceiver(t, cfg)
		t.Logf("system under test: a second Prometheus peer at %s (PANOPTES_ORACLE_SUT=prometheus)", base)
		return base
	}
	_, base := startServer(t, "--config.file="+cfg, "--web.enable-remote-write-receiver")
	t.Logf("system under test: panoptes server at %s", base)
	return base
}

// oracleQuery is one entry of battery.yaml; the file documents the fields.
type oracleQuery struct {
	Name    string `yaml:"name"`
	Expr    string `yaml:"expr"`
	Kind    string `yaml:"kind"`
	Time    string `yaml:"time"`
	Start   string `yaml:"start"`
	End     string `yaml:"end"`
	Step    string `yaml:"step"`
	Method  string `yaml:"method"`
	Ordered bool   `yaml:"ordered"`
	Empty   bool   `yaml:"empty"`
	Error   bool   `yaml:"error"`
}

// loadBattery reads and checks the battery, failing on a malformed entry
// so that a typo cannot turn into a query that checks nothing.
func loadBattery(t *testing.T) []oracleQuery {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "promql", "battery.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Queries []oracleQuery `yaml:"queries"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("battery.yaml: %v", err)
	}
	seen := map[string]bool{}
	for _, q := range file.Queries {
		if q.Name == "" || seen[q.Name] {
			t.Fatalf("battery.yaml: query %q: missing or duplicate name", q.Name)
		}
		seen[q.Name] = true
		if q.Kind != "instant" && q.Kind != "range" {
			t.Fatalf("battery.yaml: query %s: kind %q is neither instant nor range", q.Name, q.Kind)
		}
		if q.Method != "" && q.Method != http.MethodGet && q.Method != http.MethodPost {
			t.Fatalf("battery.yaml: query %s: method %q", q.Name, q.Method)
		}
		for _, d := range []string{q.Time, q.Start, q.End, q.Step} {
			if _, err := oracleDuration(d, 0); err != nil {
				t.Fatalf("battery.yaml: query %s: %v", q.Name, err)
			}
		}
	}
	return file.Queries
}

// oracleDuration parses a battery duration, "" meaning def.
func oracleDuration(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: %w", s, err)
	}
	return d, nil
}

// unixSeconds formats t as the API's time parameters take it, to the
// millisecond.
func unixSeconds(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// request turns a battery entry into an API path and form for the window
// of d. $START, $MID and $END in the expression become the window's start,
// middle and end in Unix seconds, for @ modifiers with a literal time.
func (q oracleQuery) request(d *oracleData) (string, url.Values) {
	expr := strings.NewReplacer(
		"$START", unixSeconds(d.start),
		"$MID", unixSeconds(d.start.Add(d.end.Sub(d.start)/2)),
		"$END", unixSeconds(d.end),
	).Replace(q.Expr)
	form := url.Values{"query": {expr}}
	if q.Kind == "instant" {
		at, _ := oracleDuration(q.Time, 0)
		form.Set("time", unixSeconds(d.end.Add(at)))
		return "/api/v1/query", form
	}
	from, _ := oracleDuration(q.Start, -50*time.Minute)
	to, _ := oracleDuration(q.End, 0)
	step, _ := oracleDuration(q.Step, time.Minute)
	form.Set("start", unixSeconds(d.end.Add(from)))
	form.Set("end", unixSeconds(d.end.Add(to)))
	form.Set("step", strconv.FormatFloat(step.Seconds(), 'f', -1, 64))
	return "/api/v1/query_range", form
}

// oracleFloat is a sample value; two are equal when both are NaN or they
// differ by at most one part in 1e9.
type oracleFloat float64

func oracleFloatEqual(a, b oracleFloat) bool {
	x, y := float64(a), float64(b)
	if math.IsNaN(x) || math.IsNaN(y) {
		return math.IsNaN(x) && math.IsNaN(y)
	}
	if x == y {
		return true
	}
	return math.Abs(x-y) <= 1e-9*math.Max(math.Abs(x), math.Abs(y))
}

// oraclePoint is one sample of a result: the timestamp as the JSON wrote
// it (compared exactly), and the value, or the raw JSON of a string
// result or native histogram.
type oraclePoint struct {
	T   string
	V   oracleFloat
	Raw string
}

// oracleSeriesResult is one series of a vector or matrix.
type oracleSeriesResult struct {
	Labels string
	Points []oraclePoint
}

// oracleResult is an API answer reduced to what must agree.
type oracleResult struct {
	HTTPStatus  int
	ContentType string
	// Fields are the names of the response's fields and of its data's,
	// so that a field one side adds or drops shows too.
	Fields     []string
	Status     string
	ErrorType  string
	Error      string
	Warnings   []string
	Infos      []string
	ResultType string
	Series     []oracleSeriesResult
	Scalar     *oraclePoint
}

// oracleDo runs one battery query against base and reduces the answer.
func oracleDo(base string, q oracleQuery, d *oracleData) (*oracleResult, error) {
	path, form := q.request(d)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var req *http.Request
	var err error
	if q.Method == http.MethodPost {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, base+path+"?"+form.Encode(), nil)
	}
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	r, err := oracleDecode(body, q.Ordered)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w\n%s", req.Method, path, err, body)
	}
	r.HTTPStatus = resp.StatusCode
	r.ContentType = resp.Header.Get("Content-Type")
	return r, nil
}

// oracleDecode reduces an API response body. Series are put in label
// order unless the query's order is significant.
func oracleDecode(body []byte, ordered bool) (*oracleResult, error) {
	var raw struct {
		Status    string   `json:"status"`
		ErrorType string   `json:"errorType"`
		Error     string   `json:"error"`
		Warnings  []string `json:"warnings"`
		Infos     []string `json:"infos"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	fields, err := oracleFields(body)
	if err != nil {
		return nil, err
	}
	r := &oracleResult{Fields: fields, Status: raw.Status, ErrorType: raw.ErrorType, Error: raw.Error,
		Warnings: raw.Warnings, Infos: raw.Infos, ResultType: raw.Data.ResultType}
	sort.Strings(r.Warnings)
	sort.Strings(r.Infos)
	if len(raw.Data.Result) == 0 {
		return r, nil
	}
	decode := func(v any) error {
		d := json.NewDecoder(bytes.NewReader(raw.Data.Result))
		d.UseNumber()
		return d.Decode(v)
	}
	switch r.ResultType {
	case "scalar", "string":
		var p []any
		if err := decode(&p); err != nil {
			return nil, fmt.Errorf("decode %s: %w", r.ResultType, err)
		}
		pt, err := oracleDecodePoint(p, r.ResultType == "string")
		if err != nil {
			return nil, err
		}
		r.Scalar = &pt
	case "vector", "matrix":
		var series []struct {
			Metric     map[string]string `json:"metric"`
			Value      []any             `json:"value"`
			Values     [][]any           `json:"values"`
			Histogram  []any             `json:"histogram"`
			Histograms [][]any           `json:"histograms"`
		}
		if err := decode(&series); err != nil {
			return nil, fmt.Errorf("decode %s: %w", r.ResultType, err)
		}
		for _, s := range series {
			sr := oracleSeriesResult{Labels: oracleLabelString(s.Metric)}
			for _, p := range append(append(s.Values, s.Value), s.Histograms...) {
				if p == nil {
					continue
				}
				pt, err := oracleDecodePoint(p, false)
				if err != nil {
					return nil, err
				}
				sr.Points = append(sr.Points, pt)
			}
			if s.Histogram != nil {
				pt, err := oracleDecodePoint(s.Histogram, false)
				if err != nil {
					return nil, err
				}
				sr.Points = append(sr.Points, pt)
			}
			r.Series = append(r.Series, sr)
		}
		if !ordered {
			sort.Slice(r.Series, func(a, b int) bool { return r.Series[a].Labels < r.Series[b].Labels })
		}
	default:
		return nil, fmt.Errorf("unknown resultType %q", r.ResultType)
	}
	return r, nil
}

// oracleFields lists the field names of a response and of its data object
// (as "data.NAME"), sorted.
func oracleFields(body []byte) ([]string, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	var fields []string
	for k, v := range top {
		fields = append(fields, k)
		var data map[string]json.RawMessage
		if k == "data" && json.Unmarshal(v, &data) == nil {
			for dk := range data {
				fields = append(fields, "data."+dk)
			}
		}
	}
	sort.Strings(fields)
	return fields, nil
}

// oracleDecodePoint reduces a [timestamp, value] pair. A value that is not
// a number in a string (a string result, a native histogram) is kept as
// its JSON text.
func oracleDecodePoint(p []any, isString bool) (oraclePoint, error) {
	if len(p) != 2 {
		return oraclePoint{}, fmt.Errorf("sample %v is not a [timestamp, value] pair", p)
	}
	ts, ok := p[0].(json.Number)
	if !ok {
		return oraclePoint{}, fmt.Errorf("sample timestamp %v is not a number", p[0])
	}
	pt := oraclePoint{T: ts.String()}
	if s, ok := p[1].(string); ok && !isString {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return oraclePoint{}, fmt.Errorf("sample value %q: %w", s, err)
		}
		pt.V = oracleFloat(f)
		return pt, nil
	}
	raw, err := json.Marshal(p[1])
	if err != nil {
		return oraclePoint{}, fmt.Errorf("sample value %v: %w", p[1], err)
	}
	pt.Raw = string(raw)
	return pt, nil
}

// oracleLabelString formats a label set in a stable order.
func oracleLabelString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(m[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// oracleDiffLimit caps a reported diff: a whole matrix can be long, and
// its first differences say what went wrong.
const oracleDiffLimit = 6000

// TestPromQLOracle compares every battery query's answer from the system
// under test with the answer of the Prometheus peer over the same data.
func TestPromQLOracle(t *testing.T) {
	battery := loadBattery(t)
	cfg := oracleConfig(t)
	oracle := startPrometheusReceiver(t, cfg)
	sut := startSUT(t, cfg)

	d := oracleGenerate(time.Now().Add(-time.Minute).Truncate(time.Minute))
	oracleWrite(t, oracle, d)
	oracleWrite(t, sut, d)

	cmpFloat := cmp.Comparer(oracleFloatEqual)
	for _, q := range battery {
		t.Run(q.Name, func(t *testing.T) {
			want, err := oracleDo(oracle, q, d)
			if err != nil {
				t.Fatalf("oracle: %v", err)
			}
			// The battery's own expectations, checked on the oracle, keep
			// a query from passing because it says nothing on both sides.
			switch {
			case q.Error && want.Status != "error":
				t.Fatalf("battery says %q fails, but Prometheus answers %s", q.Expr, want.Status)
			case !q.Error && want.Status != "success":
				t.Fatalf("Prometheus rejects %q: %s: %s", q.Expr, want.ErrorType, want.Error)
			case !q.Error && q.Empty != (len(want.Series) == 0 && want.Scalar == nil):
				t.Fatalf("battery says empty=%v for %q, but Prometheus returns %d series", q.Empty, q.Expr, len(want.Series))
			}
			got, err := oracleDo(sut, q, d)
			if err != nil {
				t.Fatalf("system under test: %v", err)
			}
			if diff := cmp.Diff(want, got, cmpFloat); diff != "" {
				if len(diff) > oracleDiffLimit {
					diff = diff[:oracleDiffLimit] + "\n... (diff truncated)"
				}
				path, form := q.request(d)
				t.Errorf("%s %s?%s\n(-prometheus +system under test):\n%s", q.kindMethod(), path, form.Encode(), diff)
			}
		})
	}
}

// kindMethod is the HTTP method a query is sent with.
func (q oracleQuery) kindMethod() string {
	if q.Method == "" {
		return http.MethodGet
	}
	return q.Method
}
