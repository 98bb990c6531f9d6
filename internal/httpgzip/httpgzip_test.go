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
