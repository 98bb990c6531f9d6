package server

import (
	"encoding/binary"
	"encoding/json"
	"math"

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
//	"PNM1"                      magic and version
//	uint32 n                    length of the header
//	n bytes of JSON             {"warnings":[…],"infos":[…],"series":[{"metric":{…},"points":k},…]}
//	zero bytes to a multiple of 8 from the start
//	per series: k float64 timestamps (seconds), then k float64 values
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
}

// Encode implements apiv1.Codec.
func (matrixCodec) Encode(resp *apiv1.Response) ([]byte, error) {
	m, _ := matrixOf(resp)
	h := matrixHeader{Warnings: resp.Warnings, Infos: resp.Infos, Series: make([]matrixSeries, len(m))}
	points := 0
	for i, s := range m {
		h.Series[i] = matrixSeries{Metric: s.Metric.Map(), Points: len(s.Floats)}
		points += len(s.Floats)
	}
	js, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	start := (8 + len(js) + 7) &^ 7
	out := make([]byte, start, start+16*points)
	copy(out, "PNM1")
	binary.LittleEndian.PutUint32(out[4:], uint32(len(js))) //nolint:gosec // a header is far below 4 GiB
	copy(out[8:], js)
	for _, s := range m {
		for _, p := range s.Floats {
			out = binary.LittleEndian.AppendUint64(out, math.Float64bits(float64(p.T)/1000))
		}
		for _, p := range s.Floats {
			out = binary.LittleEndian.AppendUint64(out, math.Float64bits(p.F))
		}
	}
	return out, nil
}
