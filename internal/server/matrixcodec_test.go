package server

import (
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	apiv1 "github.com/prometheus/prometheus/web/api/v1"
)

// decodedSeries is a series of the compact matrix encoding, decoded as the
// web UI decodes it.
type decodedSeries struct {
	metric map[string]string
	ts, vs []float64
}

// decodeMatrix reads matrixCodec's layout; it fails on any inconsistency
// the browser's decoder would trip on (magic, lengths, alignment).
func decodeMatrix(t *testing.T, b []byte) (matrixHeader, []decodedSeries) {
	t.Helper()
	if len(b) < 8 || string(b[:4]) != "PNM2" {
		t.Fatalf("no PNM2 magic: % x", b[:min(8, len(b))])
	}
	n := int(binary.LittleEndian.Uint32(b[4:]))
	var h matrixHeader
	if err := json.Unmarshal(b[8:8+n], &h); err != nil {
		t.Fatalf("header: %v", err)
	}
	off := (8 + n + 7) &^ 7
	var out []decodedSeries
	read := func(k int) []float64 {
		vs := make([]float64, k)
		for i := range vs {
			vs[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[off:]))
			off += 8
		}
		return vs
	}
	for _, s := range h.Series {
		words := 2 * s.Points
		if s.Grid != nil {
			words = s.Points
		}
		if off%8 != 0 || off+8*words > len(b) {
			t.Fatalf("series at %d with %d points: body of %d bytes", off, s.Points, len(b))
		}
		var ts []float64
		if s.Grid != nil {
			// As the browser computes them.
			for i := range s.Points {
				ts = append(ts, float64(s.Grid[0]+int64(i)*s.Grid[1])/1000)
			}
		} else {
			ts = read(s.Points)
		}
		out = append(out, decodedSeries{metric: s.Metric, ts: ts, vs: read(s.Points)})
	}
	if off != len(b) {
		t.Fatalf("%d bytes after the last series", len(b)-off)
	}
	return h, out
}

func TestMatrixCodec(t *testing.T) {
	t.Parallel()
	m := promql.Matrix{
		{Metric: labels.FromStrings("__name__", "up", "job", "a"), Floats: []promql.FPoint{{T: 1000, F: 1}, {T: 16000, F: math.NaN()}, {T: 31500, F: math.Inf(-1)}}},
		{Metric: labels.FromStrings("job", "b"), Floats: nil},
		{Metric: labels.FromStrings("job", "c"), Floats: []promql.FPoint{{T: -5000, F: 2.5e-300}}},
		{Metric: labels.FromStrings("job", "d"), Floats: []promql.FPoint{{T: 1796520216100, F: 1}, {T: 1796520216200, F: 2}, {T: 1796520216300, F: math.Copysign(0, -1)}, {T: 1796520216400, F: 4}}},
		{Metric: labels.FromStrings("job", "e"), Floats: []promql.FPoint{{T: 0, F: 1}, {T: 15000, F: 2}, {T: 45000, F: 3}}},
	}
	resp := &apiv1.Response{Status: "success", Warnings: []string{"w"}, Infos: []string{"i"},
		Data: &apiv1.QueryData{ResultType: parser.ValueTypeMatrix, Result: m}}
	var c matrixCodec
	if !c.CanEncode(resp) {
		t.Fatal("cannot encode a float matrix")
	}
	b, err := c.Encode(resp)
	if err != nil {
		t.Fatal(err)
	}
	h, got := decodeMatrix(t, b)
	// Evenly spaced series (one point included) send no timestamps.
	for i, want := range []bool{false, false, true, true, false} {
		if got := h.Series[i].Grid != nil; got != want {
			t.Errorf("series %d: grid %v, want %v", i, h.Series[i].Grid, want)
		}
	}
	if len(h.Warnings) != 1 || h.Warnings[0] != "w" || len(h.Infos) != 1 || h.Infos[0] != "i" {
		t.Errorf("warnings %v infos %v", h.Warnings, h.Infos)
	}
	if len(got) != len(m) {
		t.Fatalf("%d series, want %d", len(got), len(m))
	}
	for i, s := range m {
		if want := s.Metric.Map(); fmt.Sprint(got[i].metric) != fmt.Sprint(want) {
			t.Errorf("series %d: metric %v, want %v", i, got[i].metric, want)
		}
		if len(got[i].ts) != len(s.Floats) {
			t.Fatalf("series %d: %d points, want %d", i, len(got[i].ts), len(s.Floats))
		}
		for j, p := range s.Floats {
			if got[i].ts[j] != float64(p.T)/1000 {
				t.Errorf("series %d point %d: t %v, want %v", i, j, got[i].ts[j], float64(p.T)/1000)
			}
			if v := got[i].vs[j]; v != p.F && !(math.IsNaN(v) && math.IsNaN(p.F)) {
				t.Errorf("series %d point %d: v %v, want %v", i, j, v, p.F)
			}
		}
	}

	for _, tc := range []struct {
		name string
		resp *apiv1.Response
	}{
		{"nil", nil},
		{"an error", &apiv1.Response{Status: "error", Error: "bad"}},
		{"a vector", &apiv1.Response{Status: "success", Data: &apiv1.QueryData{ResultType: parser.ValueTypeVector, Result: promql.Vector{}}}},
		{"a label list", &apiv1.Response{Status: "success", Data: []string{"a"}}},
		{"native histograms", &apiv1.Response{Status: "success", Data: &apiv1.QueryData{ResultType: parser.ValueTypeMatrix, Result: promql.Matrix{
			{Metric: labels.FromStrings("job", "h"), Histograms: []promql.HPoint{{T: 1, H: &histogram.FloatHistogram{Count: 1}}}},
		}}}},
	} {
		if c.CanEncode(tc.resp) {
			t.Errorf("CanEncode(%s) = true, want false (JSON)", tc.name)
		}
	}
}

// TestMatrixCodecServed: the server answers query_range in the compact
// encoding only to a client that asks for it, with the same series and
// points as its JSON answer, and everything else in JSON.
func TestMatrixCodecServed(t *testing.T) {
	t.Parallel()
	base := runServer(t, newTestServer(t, func(*Options) {}))
	get := func(path string, q url.Values, accept string) (string, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+path+"?"+q.Encode(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return resp.Header.Get("Content-Type"), b
	}
	q := url.Values{"query": {`label_replace(vector(time()) * 2, "k", "v", "", "")`}, "start": {"1700000000"}, "end": {"1700000300"}, "step": {"15"}}
	const ui = "application/vnd.panoptes.matrix, application/json;q=0.5"
	ct, bin := get("/api/v1/query_range", q, ui)
	if ct != "application/vnd.panoptes.matrix" {
		t.Fatalf("query_range asked for the compact encoding: Content-Type %q", ct)
	}
	_, series := decodeMatrix(t, bin)
	ct, js := get("/api/v1/query_range", q, "")
	if ct != "application/json" {
		t.Fatalf("query_range without Accept: Content-Type %q, want JSON", ct)
	}
	var answer struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(js, &answer); err != nil {
		t.Fatal(err)
	}
	if len(answer.Data.Result) != 1 || len(series) != 1 {
		t.Fatalf("%d JSON series, %d compact", len(answer.Data.Result), len(series))
	}
	want, got := answer.Data.Result[0], series[0]
	if fmt.Sprint(want.Metric) != fmt.Sprint(got.metric) || len(want.Values) != len(got.ts) || len(got.ts) != 21 {
		t.Fatalf("JSON %v with %d points, compact %v with %d (want 21)", want.Metric, len(want.Values), got.metric, len(got.ts))
	}
	for i, p := range want.Values {
		v, err := strconv.ParseFloat(p[1].(string), 64)
		if err != nil {
			t.Fatal(err)
		}
		if p[0].(float64) != got.ts[i] || v != got.vs[i] {
			t.Errorf("point %d: JSON %v %v, compact %v %v", i, p[0], v, got.ts[i], got.vs[i])
		}
	}
	// An instant query's vector goes as JSON, whatever the Accept header.
	if ct, _ := get("/api/v1/query", url.Values{"query": {"vector(1)"}, "time": {"1700000000"}}, ui); ct != "application/json" {
		t.Errorf("an instant query asked for the compact encoding: Content-Type %q, want JSON", ct)
	}

	// compressRanges: the UI's answers, gzipped by the request's
	// Accept-Encoding, with their status; an error stays API v1's JSON.
	raw := func(q url.Values, enc string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+"/api/v1/query_range?"+q.Encode(), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", ui)
		req.Header.Set("Accept-Encoding", enc)
		return roundTrip(t, req)
	}
	for _, enc := range []string{"gzip, deflate, br", "identity"} {
		resp, b := raw(q, enc)
		if gz := resp.Header.Get("Content-Encoding") == "gzip"; gz != (enc != "identity") || resp.StatusCode != http.StatusOK {
			t.Fatalf("Accept-Encoding %q: %d, Content-Encoding %q", enc, resp.StatusCode, resp.Header.Get("Content-Encoding"))
		}
		if _, again := decodeMatrix(t, b); fmt.Sprint(again) != fmt.Sprint(series) {
			t.Errorf("Accept-Encoding %q: %v, want %v", enc, again, series)
		}
		bad := url.Values{"query": {"rate("}, "start": {"1"}, "end": {"2"}, "step": {"1"}}
		resp, b = raw(bad, enc)
		if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !strings.Contains(string(b), `"errorType":"bad_data"`) {
			t.Errorf("Accept-Encoding %q, a bad query: %d %s %s", enc, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
	}
}

// roundTrip sends req as it is (the client's transparent gzip would hide
// Content-Encoding) and returns the answer with its body, gunzipped when
// the server compressed it.
func roundTrip(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var r io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		if r, err = gzip.NewReader(resp.Body); err != nil {
			t.Fatal(err)
		}
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}
