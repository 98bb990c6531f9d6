package state

import (
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/prometheus/common/expfmt"
	"k8s.io/kube-state-metrics/v2/pkg/metric"
	metricsstore "k8s.io/kube-state-metrics/v2/pkg/metrics_store"
)

// resourceWriter is one resource's stores (one per namespace watched), as
// kube-state-metrics' MetricsWriter, with the headers of their families.
type resourceWriter struct {
	name    string
	stores  []*familyStore
	headers []header
}

// header is a family's HELP and TYPE lines as written in each format.
type header struct {
	name, text, openMetrics string
}

// parseHeaders readies the HELP and TYPE lines of kube-state-metrics'
// generators (ExtractMetricFamilyHeaders) for both formats: the text
// format has no info or stateset type, so those families are gauges there,
// as kube-state-metrics writes them.
func parseHeaders(raw []string) []header {
	hs := make([]header, len(raw))
	for i, h := range raw {
		if h != "" && !strings.HasSuffix(h, "\n") {
			h += "\n"
		}
		hs[i] = header{text: h, openMetrics: h}
		for line := range strings.SplitSeq(strings.TrimSuffix(h, "\n"), "\n") {
			fields := strings.Fields(line)
			if len(fields) < 3 || fields[0] != "#" {
				continue
			}
			if hs[i].name == "" && (fields[1] == "HELP" || fields[1] == "TYPE") {
				hs[i].name = fields[2]
			}
			if fields[1] == "TYPE" && len(fields) == 4 && (fields[3] == string(metric.Info) || fields[3] == string(metric.StateSet)) {
				gauge := strings.TrimSuffix(line, fields[3]) + string(metric.Gauge)
				hs[i].text = strings.Replace(h, line, gauge, 1)
			}
		}
	}
	return hs
}

// exposition serves /metrics from the stores of the latest build: the same
// bytes, formats, filters and gzip as kube-state-metrics' metrics handler
// (which still runs the builds: sharding, automatic sharding), written a
// segment of objects at a time.
type exposition struct {
	gzip    bool
	writers atomic.Pointer[[]resourceWriter]
	logger  *slog.Logger
}

// ServeHTTP writes every family of the served resources: text format, or
// OpenMetrics when the scraper asks for it; gzip when enabled and accepted;
// ?resources= and ?exclude_resources= choose resources by name.
func (e *exposition) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var writers []resourceWriter
	if p := e.writers.Load(); p != nil {
		writers = *p
	}
	// kube-state-metrics' negotiation (expfmt's NegotiateIncludingOpenMetrics).
	format := expfmt.NegotiateAccept(r.Header, expfmt.DefaultOpenMetricsAcceptedFormats()...)
	// kube-state-metrics serves no protobuf: the text format instead.
	openMetrics := format.FormatType() == expfmt.TypeOpenMetrics
	if !openMetrics {
		format = expfmt.NewFormat(expfmt.TypeTextPlain)
	}
	w.Header().Set("Content-Type", string(format))
	var out io.Writer = w
	if e.gzip && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		gz := gzip.NewWriter(w)
		defer func() {
			if err := gz.Close(); err != nil {
				e.logger.Debug("metrics: gzip close", "err", err)
			}
		}()
		w.Header().Set("Content-Encoding", "gzip")
		out = gz
	}
	requested := resourceSet(r.URL.Query()["resources"])
	excluded := resourceSet(r.URL.Query()["exclude_resources"])
	// A family named by two resources (a custom resource's, say) gets its
	// HELP and TYPE once, from the first written.
	seen := map[string]bool{}
	for _, rw := range writers {
		if _, ok := requested[rw.name]; requested != nil && !ok {
			continue
		}
		if _, ok := excluded[rw.name]; ok {
			continue
		}
		if err := rw.write(out, openMetrics, seen); err != nil {
			// The scraper went away; the rest would fail the same way.
			e.logger.Debug("metrics: write", "resource", rw.name, "err", err)
			return
		}
	}
	if openMetrics {
		_, _ = io.WriteString(out, "# EOF\n")
	}
}

// write writes the resource's families, each with its header (unless seen
// names it already), when its stores hold an object.
func (rw resourceWriter) write(w io.Writer, openMetrics bool, seen map[string]bool) error {
	snaps := make([][][][]byte, len(rw.stores))
	objects := 0
	for i, s := range rw.stores {
		var n int
		snaps[i], n = s.snapshot()
		objects += n
	}
	for f, h := range rw.headers {
		text := h.text
		if openMetrics {
			text = h.openMetrics
		}
		if h.name != "" {
			if seen[h.name] {
				text = ""
			}
			seen[h.name] = true
		}
		if objects == 0 {
			continue
		}
		if text != "" {
			if _, err := io.WriteString(w, text); err != nil {
				return err
			}
		}
		for _, snap := range snaps {
			for _, buf := range snap[f] {
				if _, err := w.Write(buf); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// acceptsGzip reports whether an Accept-Encoding header names gzip.
func acceptsGzip(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		part = strings.TrimSpace(part)
		if part == "gzip" || strings.HasPrefix(part, "gzip;") {
			return true
		}
	}
	return false
}

// resourceSet is the resource names of ?resources= values (several, or
// comma-separated); nil when the parameter is absent.
func resourceSet(values []string) map[string]struct{} {
	if values == nil {
		return nil
	}
	set := map[string]struct{}{}
	for _, v := range values {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				set[name] = struct{}{}
			}
		}
	}
	return set
}

// Build builds the stores of the enabled resources, as kube-state-metrics'
// builder, and publishes them to the exposition. kube-state-metrics'
// handler calls it (at start and on every resharding) and swaps in the
// writers it returns at once; the exposition does the same with ours. The
// writers returned hold empty placeholder stores: the handler's own
// ServeHTTP is not served.
func (b *storeBuilder) Build() metricsstore.MetricsWriterList {
	b.mu.Lock()
	b.building = nil
	b.mu.Unlock()
	ws := b.Builder.Build()
	b.mu.Lock()
	built := b.building
	b.building = nil
	b.mu.Unlock()
	// The builder calls the store functions in the order of its writers,
	// once each: name ours as it names them.
	if len(built) == len(ws) {
		for i := range ws {
			built[i].name = ws[i].ResourceName
		}
	} else {
		b.logger.Warn("state: stores built do not match the builder's resources; names may differ",
			"stores", len(built), "resources", len(ws))
	}
	b.exposition.writers.Store(&built)
	return ws
}

// record notes a resource's stores for the Build under way.
func (b *storeBuilder) record(name string, headers []string, stores []*familyStore) {
	b.mu.Lock()
	b.building = append(b.building, resourceWriter{name: name, stores: stores, headers: parseHeaders(headers)})
	b.mu.Unlock()
}
