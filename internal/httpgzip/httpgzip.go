// Package httpgzip is the one place where Panoptes' HTTP handlers decide
// whether a client takes gzip (RFC 9110 Accept-Encoding with q-values) and
// write a compressed body. It imports only the standard library, so the lean
// agent build can use it.
package httpgzip

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// Accepts reports whether an Accept-Encoding header value allows gzip: a
// "gzip" (or "x-gzip", or "*") coding whose q-value is not 0. An explicit
// "gzip;q=0" refuses gzip even when "*" would allow it.
func Accepts(header string) bool {
	star := false
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "x-gzip" && coding != "*" {
			continue
		}
		ok := qNonZero(params)
		if coding == "*" {
			star = ok
			continue
		}
		return ok
	}
	return star
}

// qNonZero reads the q parameter of one coding; absent means 1.
func qNonZero(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		// A q-value that does not parse is ignored, as browsers and Go's
		// own net/http treat a malformed weight.
		return err != nil || f > 0
	}
	return true
}

// compress writes body gzip-compressed; the caller has set the headers and
// the status. Stateless compression keeps no tables between responses (a
// gzip writer at BestSpeed holds about 800 KiB), at about the same speed
// and ratio for bodies of a scrape's size.
func compress(w http.ResponseWriter, body []byte) error {
	gz, err := gzip.NewWriterLevel(w, gzip.StatelessCompression)
	if err != nil {
		return fmt.Errorf("BUG: gzip level: %w", err)
	}
	if _, err := gz.Write(body); err != nil {
		return fmt.Errorf("write gzip response: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("write gzip response: %w", err)
	}
	return nil
}

// Respond writes body gzip-compressed when the request accepts it and as is,
// with its Content-Length, otherwise.
func Respond(w http.ResponseWriter, r *http.Request, body []byte) error {
	return RespondStatus(w, r, http.StatusOK, body)
}

// RespondStatus is Respond with a status code. An empty body goes as is:
// a 204 must have none, and a gzip stream of nothing is not nothing.
func RespondStatus(w http.ResponseWriter, r *http.Request, code int, body []byte) error {
	w.Header().Add("Vary", "Accept-Encoding")
	if len(body) > 0 && Accepts(r.Header.Get("Accept-Encoding")) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Del("Content-Length")
		w.WriteHeader(code)
		return compress(w, body)
	}
	if len(body) > 0 {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(code)
	if len(body) == 0 {
		return nil
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("write response: %w", err)
	}
	return nil
}
