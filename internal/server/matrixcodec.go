package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strings"

	"github.com/panoptes-dev/panoptes/internal/httpgzip"

	"github.com/prometheus/prometheus/promql"
	apiv1 "github.com/prometheus/prometheus/web/api/v1"
)

// matrixCodec is a compact encoding of query_range answers for the web
// UI, which asks for it by its Accept header; every other client, and every
// answer that is not a float matrix, gets API v1's JSON as before. A
// 20-chart dashboard of 5 series × 5,761 points is 21.5 MB of JSON whose
// parsing (and a parseFloat per value) held the browser's main thread for
// seconds; here the points are float64 arrays the browser reads in place.
//
// The layout, little-endian:
//
//	"PNM2"                      magic and version
//	uint32 n                    length of the header
//	n bytes of JSON             {"warnings":[…],"infos":[…],"series":[{"metric":{…},"points":k,"grid":[t0,dt]},…]}
//	zero bytes to a multiple of 8 from the start
//	per series: k float64 timestamps (seconds) unless it has a grid, then
//	k float64 values
//
// A range query's points fall on its step grid, so a series without a gap
// names its first timestamp and interval in ms ("grid", exact integers; the
// i-th point is at (t0 + i·dt)/1000 s) and sends only its values: half the
// bytes. A series with gaps sends its timestamps.
type matrixCodec struct{}

// matrixContentType is the codec's media type (a vendor type: no client
// asks for it by accident).
var matrixContentType = apiv1.MIMEType{Type: "application", SubType: "vnd.panoptes.matrix"}

// ContentType implements apiv1.Codec.
func (matrixCodec) ContentType() apiv1.MIMEType { return matrixContentType }

// CanEncode implements apiv1.Codec: a successful query answer that is a
// matrix of float series (native histograms go as JSON).
func (matrixCodec) CanEncode(resp *apiv1.Response) bool {
	m, ok := matrixOf(resp)
	if !ok {
		return false
	}
	for _, s := range m {
		if len(s.Histograms) > 0 {
			return false
		}
	}
	return true
}

func matrixOf(resp *apiv1.Response) (promql.Matrix, bool) {
	if resp == nil || resp.Status != "success" {
		return nil, false
	}
	qd, ok := resp.Data.(*apiv1.QueryData)
	if !ok {
		return nil, false
	}
	m, ok := qd.Result.(promql.Matrix)
	return m, ok
}

type matrixHeader struct {
	Warnings []string       `json:"warnings,omitempty"`
	Infos    []string       `json:"infos,omitempty"`
	Series   []matrixSeries `json:"series"`
}

type matrixSeries struct {
	Metric map[string]string `json:"metric"`
	Points int               `json:"points"`
	Grid   *[2]int64         `json:"grid,omitempty"`
}

// gridOf is the series' first timestamp and interval when its points are
// evenly spaced (one point: interval 0), else nil.
func gridOf(ps []promql.FPoint) *[2]int64 {
	if len(ps) == 0 {
		return nil
	}
	g := [2]int64{ps[0].T, 0}
	if len(ps) > 1 {
		g[1] = ps[1].T - ps[0].T
	}
	for i := 2; i < len(ps); i++ {
		if ps[i].T-ps[i-1].T != g[1] {
			return nil
		}
	}
	return &g
}

// Encode implements apiv1.Codec.
func (matrixCodec) Encode(resp *apiv1.Response) ([]byte, error) {
	m, _ := matrixOf(resp)
	h := matrixHeader{Warnings: resp.Warnings, Infos: resp.Infos, Series: make([]matrixSeries, len(m))}
	words := 0
	for i, s := range m {
		h.Series[i] = matrixSeries{Metric: s.Metric.Map(), Points: len(s.Floats), Grid: gridOf(s.Floats)}
		words += len(s.Floats)
		if h.Series[i].Grid == nil {
			words += len(s.Floats)
		}
	}
	js, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	start := align8(8 + len(js))
	out := make([]byte, start, start+8*words)
	copy(out, "PNM2")
	binary.LittleEndian.PutUint32(out[4:], uint32(len(js))) //nolint:gosec // a header is far below 4 GiB
	copy(out[8:], js)
	for i, s := range m {
		if h.Series[i].Grid == nil {
			for _, p := range s.Floats {
				out = binary.LittleEndian.AppendUint64(out, math.Float64bits(float64(p.T)/1000))
			}
		}
		for _, p := range s.Floats {
			out = binary.LittleEndian.AppendUint64(out, math.Float64bits(p.F))
		}
	}
	return out, nil
}

// compressRanges serves query_range to the clients that ask for the
// compact encoding (the web UI) with httpgzip's stateless gzip instead of
// API v1's, which builds a gzip writer at its default level per response.
// On bench/ui.sh's 20-chart dashboard (100 answers of 5,761 float64
// values, which gzip hardly shrinks), this and the grid timestamps cut the
// server's CPU time for a load from 0.77 to 0.52 s. Other clients and
// paths are left to API v1 as they are.
func compressRanges(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/query_range" || !strings.Contains(r.Header.Get("Accept"), matrixContentType.String()) {
			next.ServeHTTP(w, r)
			return
		}
		inner := r.Clone(r.Context())
		inner.Header.Del("Accept-Encoding")
		rec := &bufferedResponse{header: w.Header()}
		next.ServeHTTP(rec, inner)
		// The client is gone if this fails; API v1 does not report it either.
		_ = httpgzip.RespondStatus(w, r, rec.status(), rec.body.Bytes())
	})
}

// bufferedResponse holds a handler's answer, written in one piece by API
// v1, until compressRanges sends it. Headers go straight to the real
// writer's map.
type bufferedResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

// status is the code the handler sent, 200 when it wrote nothing.
func (b *bufferedResponse) status() int {
	if b.code == 0 {
		return http.StatusOK
	}
	return b.code
}

func (b *bufferedResponse) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}
