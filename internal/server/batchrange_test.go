package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestBatchRanges: each part of a batch answer is, byte for byte, what
// query_range answers that query alone (compact matrix, empty matrix, a
// parse error with its status), at offsets the browser can view float64
// arrays at; and the endpoint refuses what it should.
func TestBatchRanges(t *testing.T) {
	t.Parallel()
	base := runServer(t, newTestServer(t, func(*Options) {}))
	post := func(path string, form url.Values, hdr map[string]string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept-Encoding", "identity")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return roundTrip(t, req)
	}
	window := url.Values{"start": {"1700000000"}, "end": {"1700000300"}, "step": {"15"}}
	queries := []string{
		`label_replace(vector(time()) * 2, "k", "v", "", "")`,
		`rate(`,
		`vector(1) > 2`,
		`sum(rate(nothing[5m]))`,
	}
	type answer struct {
		status int
		ct     string
		body   []byte
	}
	var alone []answer
	for _, q := range queries {
		form := url.Values{"query": {q}}
		for k, v := range window {
			form[k] = v
		}
		resp, b := post("/api/v1/query_range", form, map[string]string{"Accept": "application/vnd.panoptes.matrix, application/json;q=0.5"})
		alone = append(alone, answer{resp.StatusCode, resp.Header.Get("Content-Type"), b})
	}
	if alone[0].ct != "application/vnd.panoptes.matrix" || alone[1].status != http.StatusBadRequest {
		t.Fatalf("alone: %d %s, %d %s", alone[0].status, alone[0].ct, alone[1].status, alone[1].ct)
	}

	for _, enc := range []string{"identity", "gzip"} {
		form := url.Values{"query": queries}
		for k, v := range window {
			form[k] = v
		}
		resp, b := post(BatchRangePath, form, map[string]string{"Accept-Encoding": enc})
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != batchContentType {
			t.Fatalf("%s: %d %s: %s", enc, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
		if gz := resp.Header.Get("Content-Encoding") == "gzip"; gz != (enc == "gzip") {
			t.Errorf("Accept-Encoding %s: Content-Encoding %q", enc, resp.Header.Get("Content-Encoding"))
		}
		if len(b) < 8 || string(b[:4]) != "PNB1" {
			t.Fatalf("no PNB1 magic: % x", b[:min(8, len(b))])
		}
		n := int(binary.LittleEndian.Uint32(b[4:]))
		var parts []batchPart
		if err := json.Unmarshal(b[8:8+n], &parts); err != nil {
			t.Fatal(err)
		}
		if len(parts) != len(queries) {
			t.Fatalf("%d parts for %d queries", len(parts), len(queries))
		}
		end := 8 + n
		for i, p := range parts {
			if p.Offset%8 != 0 || p.Offset < end || p.Offset+p.Length > len(b) {
				t.Fatalf("part %d at %d+%d (previous end %d, %d bytes)", i, p.Offset, p.Length, end, len(b))
			}
			if pad := b[end:p.Offset]; len(bytes.Trim(pad, "\x00")) != 0 {
				t.Errorf("part %d: padding % x", i, pad)
			}
			end = p.Offset + p.Length
			got := answer{p.Status, p.Type, b[p.Offset:end]}
			if got.status != alone[i].status || got.ct != alone[i].ct || !bytes.Equal(got.body, alone[i].body) {
				t.Errorf("%q: batch %d %s %q, alone %d %s %q", queries[i], got.status, got.ct, got.body, alone[i].status, alone[i].ct, alone[i].body)
			}
		}
		if end != len(b) {
			t.Errorf("%d bytes after the last part", len(b)-end)
		}
	}

	for _, tc := range []struct {
		name   string
		method string
		form   url.Values
		hdr    map[string]string
		want   int
	}{
		{"GET", http.MethodGet, nil, nil, http.StatusMethodNotAllowed},
		{"no query", http.MethodPost, window, nil, http.StatusBadRequest},
		{"too many", http.MethodPost, url.Values{"query": make([]string, maxBatchQueries+1)}, nil, http.StatusBadRequest},
		{"another site's page", http.MethodPost, url.Values{"query": queries[:1]}, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
	} {
		req, err := http.NewRequest(tc.method, base+BatchRangePath, strings.NewReader(tc.form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range tc.hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
}
