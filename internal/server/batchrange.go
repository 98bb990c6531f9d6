package server

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"

	"github.com/panoptes-dev/panoptes/internal/httpgzip"
)

// BatchRangePath answers several range queries over one window in one
// response: the web UI sends a panel's targets this way, as Grafana's
// frontend sends a panel's queries in one /api/ds/query. Measured with
// bench/ui.sh, each HTTP request costs chromium about 4 ms of CPU on top of
// the server's work, so a 20-chart dashboard of 5 targets each spent more
// CPU in the browser's request handling than in its drawing.
const BatchRangePath = "/api/ui/query_range"

// maxBatchQueries bounds one batch; the UI splits larger panels.
const maxBatchQueries = 64

// batchContentType is the answer's media type.
const batchContentType = "application/vnd.panoptes.batch"

// batchPart is the header entry of one query's answer in a batch.
type batchPart struct {
	Status int    `json:"status"`
	Type   string `json:"type"`
	Offset int    `json:"offset"`
	Length int    `json:"length"`
}

// batchRanges serves BatchRangePath: a POST form with one or more "query"
// values and the parameters of API v1's query_range (start, end, step, and
// optionally timeout, limit, lookback_delta, stats), which apply to each.
// Every query runs through api, API v1's own handler, as a query_range
// request of its own: the same parsing, limits, errors and answers (the
// compact matrix encoding, else JSON), evaluated in parallel.
//
// The answer, little-endian:
//
//	"PNB1"                      magic and version
//	uint32 n                    length of the header
//	n bytes of JSON             [{"status":200,"type":"…","offset":o,"length":l},…], one per query, in order
//	the answers, each at its offset from the start (a multiple of 8, so that
//	the compact encoding's float64 arrays can be viewed in place)
func batchRanges(api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "This endpoint requires a POST form: query (one or more), start, end, step.", http.StatusMethodNotAllowed)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 4<<20)
		if err := r.ParseForm(); err != nil {
			http.Error(w, fmt.Sprintf("invalid form: %v", err), http.StatusBadRequest)
			return
		}
		queries := r.Form["query"]
		if len(queries) == 0 || len(queries) > maxBatchQueries {
			http.Error(w, fmt.Sprintf("a batch holds 1 to %d queries, not %d", maxBatchQueries, len(queries)), http.StatusBadRequest)
			return
		}
		params := url.Values{}
		for k, v := range r.Form {
			if k != "query" {
				params[k] = v
			}
		}
		answers := make([]bufferedResponse, len(queries))
		sem := make(chan struct{}, runtime.GOMAXPROCS(0))
		var wg sync.WaitGroup
		for i, q := range queries {
			form := url.Values{"query": {q}}
			for k, v := range params {
				form[k] = v
			}
			inner, err := http.NewRequestWithContext(r.Context(), http.MethodPost, "/query_range", strings.NewReader(form.Encode()))
			if err != nil {
				http.Error(w, fmt.Sprintf("BUG: sub-request: %v", err), http.StatusInternalServerError)
				return
			}
			inner.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			inner.Header.Set("Accept", matrixContentType.String()+", application/json;q=0.5")
			inner.RemoteAddr, inner.Host = r.RemoteAddr, r.Host
			answers[i].header = http.Header{}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				api.ServeHTTP(&answers[i], inner)
			}()
		}
		wg.Wait()

		parts := make([]batchPart, len(answers))
		for i := range answers {
			parts[i] = batchPart{Status: answers[i].status(), Type: answers[i].header.Get("Content-Type"), Length: answers[i].body.Len()}
		}
		// The offsets depend on the header's length, which depends on the
		// offsets' digits: lay out until it settles (it only grows).
		var head []byte
		for n := -1; n != len(head); {
			n = len(head)
			off := align8(8 + n)
			for i := range parts {
				parts[i].Offset = off
				off = align8(off + parts[i].Length)
			}
			var err error
			if head, err = json.Marshal(parts); err != nil {
				http.Error(w, fmt.Sprintf("BUG: batch header: %v", err), http.StatusInternalServerError)
				return
			}
		}
		last := parts[len(parts)-1] // a batch has a query at least
		out := make([]byte, 8, last.Offset+last.Length)
		copy(out, "PNB1")
		binary.LittleEndian.PutUint32(out[4:], uint32(len(head))) //nolint:gosec // a header is far below 4 GiB
		out = append(out, head...)
		for i := range answers {
			out = append(out, make([]byte, parts[i].Offset-len(out))...)
			out = append(out, answers[i].body.Bytes()...)
		}
		w.Header().Set("Content-Type", batchContentType)
		_ = httpgzip.RespondStatus(w, r, http.StatusOK, out)
	})
}

func align8(n int) int { return (n + 7) &^ 7 }
