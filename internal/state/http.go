package state

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/pprof"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/kubernetes"
)

// metricsMux serves /metrics and the probes on the main port, as
// kube-state-metrics does.
func metricsMux(metrics http.Handler, client kubernetes.Interface) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", buffered(metrics))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintln(w, "ok")
	})
	// /livez asks the API server, as kube-state-metrics' does.
	mux.HandleFunc("/livez", func(w http.ResponseWriter, r *http.Request) {
		res := client.CoreV1().RESTClient().Get().AbsPath("/livez").Do(r.Context())
		if err := res.Error(); err != nil {
			http.Error(w, "API server not live: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = fmt.Fprint(w, `<html><head><title>panoptes state</title></head><body>
<h1>panoptes state</h1><p>The state of Kubernetes objects, kube-state-metrics compatible.</p>
<ul><li><a href="metrics">/metrics</a></li><li><a href="healthz">/healthz</a></li><li><a href="livez">/livez</a></li></ul>
</body></html>
`)
	})
	return mux
}

// buffered writes a handler's response through a 256 KiB buffer: the
// metrics writer makes one small Write per object and family, and through
// net/http's 4 KiB buffer that is a write system call per 4 KiB of a tens
// of megabytes exposition (a quarter of a scrape's CPU, measured by
// bench/state.sh's profile).
func buffered(h http.Handler) http.Handler {
	pool := sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 256<<10) }}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bw := pool.Get().(*bufio.Writer)
		bw.Reset(w)
		h.ServeHTTP(bufferedResponse{ResponseWriter: w, w: bw}, r)
		_ = bw.Flush()
		bw.Reset(nil)
		pool.Put(bw)
	})
}

type bufferedResponse struct {
	http.ResponseWriter
	w *bufio.Writer
}

func (b bufferedResponse) Write(p []byte) (int, error) { return b.w.Write(p) }

// telemetryMux serves the self metrics; /readyz answers 200 once every
// enabled resource has been listed once.
func telemetryMux(g prometheus.Gatherer, tr *tracker) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	// As kube-state-metrics' telemetry port: profiles for memory questions.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if missing := tr.unsynced(); len(missing) > 0 {
			http.Error(w, fmt.Sprintf("not listed yet: %v", missing), http.StatusServiceUnavailable)
			return
		}
		_, _ = fmt.Fprintln(w, "ok")
	})
	return mux
}
