package state

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/kubernetes"
)

// metricsMux serves /metrics and the probes on the main port, as
// kube-state-metrics does.
func metricsMux(metrics http.Handler, client kubernetes.Interface) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics)
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

// telemetryMux serves the self metrics; /readyz answers 200 once every
// enabled resource has been listed once.
func telemetryMux(g prometheus.Gatherer, tr *tracker) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
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
