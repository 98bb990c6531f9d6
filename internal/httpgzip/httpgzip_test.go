package httpgzip

import (
	"compress/gzip"
	"io"
	"net/http/httptest"
	"testing"
)

func TestAccepts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"GZIP", true},
		{"deflate, gzip", true},
		{"gzip;q=0.5", true},
		{"gzip; q=0.5", true},
		{"gzip;q=0", false},
		{"gzip;q=0.0", false},
		{"gzip;q=0.000", false},
		{"gzip;q=0.01", true},
		{"identity", false},
		{"*", true},
		{"*;q=0", false},
		{"*, gzip;q=0", false},
		{"gzip;q=0, *", false},
		{"x-gzip", true},
		{"br, deflate", false},
		{"gzip;level=1;q=1", true},
		{"gzip;q=bogus", true},
	} {
		if got := Accepts(tc.header); got != tc.want {
			t.Errorf("Accepts(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}

func TestRespond(t *testing.T) {
	t.Parallel()
	body := []byte("node_load1 0.5\n")
	for _, enc := range []string{"gzip", ""} {
		r := httptest.NewRequest("GET", "/metrics", nil)
		r.Header.Set("Accept-Encoding", enc)
		w := httptest.NewRecorder()
		if err := Respond(w, r, body); err != nil {
			t.Fatal(err)
		}
		got := w.Body.Bytes()
		if enc == "gzip" {
			if w.Header().Get("Content-Encoding") != "gzip" {
				t.Fatalf("no Content-Encoding: gzip")
			}
			zr, err := gzip.NewReader(w.Body)
			if err != nil {
				t.Fatal(err)
			}
			if got, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		} else if w.Header().Get("Content-Length") != "15" {
			t.Errorf("Content-Length %q, want 15", w.Header().Get("Content-Length"))
		}
		if string(got) != string(body) {
			t.Errorf("Accept-Encoding %q: body %q, want %q", enc, got, body)
		}
	}
}

// TestRespondStatus: the status goes out with the compressed body, and an
// empty body (a 204) is written as is.
func TestRespondStatus(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "/api/v1/query_range", nil)
	r.Header.Set("Accept-Encoding", "gzip")
	w := httptest.NewRecorder()
	if err := RespondStatus(w, r, 422, []byte(`{"status":"error"}`)); err != nil {
		t.Fatal(err)
	}
	if w.Code != 422 || w.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("status %d, Content-Encoding %q; want 422 and gzip", w.Code, w.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(zr); err != nil || string(got) != `{"status":"error"}` {
		t.Fatalf("body %q, %v", got, err)
	}
	w = httptest.NewRecorder()
	if err := RespondStatus(w, r, 204, nil); err != nil {
		t.Fatal(err)
	}
	if w.Code != 204 || w.Header().Get("Content-Encoding") != "" || w.Body.Len() != 0 {
		t.Fatalf("204: status %d, Content-Encoding %q, %d bytes", w.Code, w.Header().Get("Content-Encoding"), w.Body.Len())
	}
}

func FuzzAccepts(f *testing.F) {
	for _, s := range []string{"gzip", "gzip;q=0", "*;q=0.5, br", ";;;=,"} {
		f.Add(s)
	}
	f.Fuzz(func(_ *testing.T, s string) {
		if len(s) > 4096 {
			return
		}
		_ = Accepts(s)
	})
}
