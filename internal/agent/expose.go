package agent

import (
	"bytes"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/panoptes-dev/panoptes/internal/collector"
	"github.com/panoptes-dev/panoptes/internal/httpgzip"
)

// exposer serves a scrape without the protobuf round trip that
// client_golang's Gather makes for every sample: the collectors' samples are
// rendered straight into a reused buffer (collector.Family.AppendText), the
// few families of the agent's own registry (go_*, process_*) are encoded by
// expfmt and merged in name order, and the result is gzipped with klauspost/compress (already linked by
// client_golang), whose stateless mode is twice as fast as compress/gzip at
// BestSpeed and retains no memory between responses.
// The bytes equal what promhttp would send (tested); only the compression
// differs. Formats other than text and OpenMetrics (protobuf) go to the
// promhttp fallback.
type exposer struct {
	runner   *collector.Runner
	registry prometheus.Gatherer // may be nil
	fallback http.Handler
	logger   *slog.Logger
}

// acceptedFormats are promhttp's, in its order of preference: OpenMetrics
// 1.0.0 and 0.0.1 and text go through the fast path, protobuf through
// promhttp.
var acceptedFormats = expfmt.DefaultOpenMetricsAcceptedFormats()

// buffers keeps a few exposition buffers (tens of KiB each) between scrapes.
// A sync.Pool would not do: it is emptied by every garbage collection, and an
// agent scraped every 15 s collects garbage between any two scrapes.
// Concurrent scrapes beyond the free list's size allocate their own.
var buffers = make(chan []byte, 2)

func getBuffer() []byte {
	select {
	case b := <-buffers:
		return b[:0]
	default:
		return nil
	}
}

func putBuffer(b []byte) {
	select {
	case buffers <- b:
	default:
	}
}

func (e *exposer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	format := expfmt.NegotiateAccept(r.Header, acceptedFormats...)
	openMetrics := false
	switch format.FormatType() {
	case expfmt.TypeOpenMetrics:
		openMetrics = true
	case expfmt.TypeTextPlain:
	default:
		e.fallback.ServeHTTP(w, r)
		return
	}

	var extra []*dto.MetricFamily
	if e.registry != nil {
		var err error
		if extra, err = e.registry.Gather(); err != nil {
			// As promhttp.ContinueOnError: serve what was gathered.
			e.logger.Error("gathering the agent's own metrics", "err", err)
		}
	}
	fams, dups := collector.GroupFamilies(e.runner.Scrape())
	if dups > 0 {
		e.logger.Error("BUG: collectors emitted duplicate series; served the first of each", "count", dups)
	}

	b := getBuffer()
	i, j := 0, 0
	for i < len(fams) || j < len(extra) {
		if j == len(extra) || (i < len(fams) && fams[i].Name() < extra[j].GetName()) {
			if openMetrics {
				b = fams[i].AppendOpenMetrics(b)
			} else {
				b = fams[i].AppendText(b)
			}
			i++
			continue
		}
		buf := bytes.NewBuffer(b)
		var err error
		if openMetrics {
			_, err = expfmt.MetricFamilyToOpenMetrics(buf, extra[j])
		} else {
			_, err = expfmt.MetricFamilyToText(buf, extra[j])
		}
		if err != nil {
			e.logger.Error("encoding metric family", "family", extra[j].GetName(), "err", err)
		}
		b = buf.Bytes()
		j++
	}
	if openMetrics {
		b = append(b, "# EOF\n"...)
	}
	defer func() { putBuffer(b) }()

	h := w.Header()
	h.Set("Content-Type", string(format))
	if err := httpgzip.Respond(w, r, b); err != nil {
		e.logger.Debug("writing response", "err", err)
	}
}

// limiter bounds concurrent requests: past max, a request gets 503 at
// once, as from promhttp's MaxRequestsInFlight, instead of queueing. Every
// handler one limiter wraps shares its bound, so that a flood of one route
// (/stats/summary walks every cgroup) cannot get around the bound that
// another (/metrics) keeps. A nil limiter (max 0) bounds nothing.
type limiter struct {
	max int
	sem chan struct{}
}

// newLimiter returns a limiter for max concurrent requests; nil when max is
// 0 or less (no bound).
func newLimiter(max int) *limiter {
	if max <= 0 {
		return nil
	}
	return &limiter{max: max, sem: make(chan struct{}, max)}
}

// wrap bounds next with l's shared semaphore.
func (l *limiter) wrap(next http.Handler) http.Handler {
	if l == nil {
		return next
	}
	msg := "Limit of concurrent requests reached (" + strconv.Itoa(l.max) + "), try again later."
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case l.sem <- struct{}{}:
			defer func() { <-l.sem }()
			next.ServeHTTP(w, r)
		default:
			http.Error(w, msg, http.StatusServiceUnavailable)
		}
	})
}

// limitEach wraps every handler of routes with one limiter of max, for a
// listener (the kubelet-shaped one) whose mux is built elsewhere.
func limitEach(max int, routes map[string]http.Handler) map[string]http.Handler {
	l := newLimiter(max)
	if l == nil || routes == nil {
		return routes
	}
	out := make(map[string]http.Handler, len(routes))
	for path, h := range routes {
		out[path] = l.wrap(h)
	}
	return out
}
