package alertmanager

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the ones Alertmanager's process registers itself (beside
// those of its packages), under its names, so that its dashboards and the
// alerts of its mixin work. Cardinality: the handlers (a dozen) times
// methods and codes.
type metrics struct {
	requestDuration           *prometheus.HistogramVec
	responseSize              *prometheus.HistogramVec
	clusterEnabled            prometheus.Gauge
	configuredReceivers       prometheus.Gauge
	configuredIntegrations    prometheus.Gauge
	configuredInhibitionRules prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		requestDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:                            "alertmanager_http_request_duration_seconds",
			Help:                            "Histogram of latencies for HTTP requests.",
			Buckets:                         prometheus.DefBuckets,
			NativeHistogramBucketFactor:     1.1,
			NativeHistogramMaxBucketNumber:  100,
			NativeHistogramMinResetDuration: time.Hour,
		}, []string{"handler", "method", "code"}),
		responseSize: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "alertmanager_http_response_size_bytes",
			Help:    "Histogram of response size for HTTP requests.",
			Buckets: prometheus.ExponentialBuckets(100, 10, 7),
		}, []string{"handler", "method"}),
		clusterEnabled: f.NewGauge(prometheus.GaugeOpts{
			Name: "alertmanager_cluster_enabled",
			Help: "Indicates whether the clustering is enabled or not.",
		}),
		configuredReceivers: f.NewGauge(prometheus.GaugeOpts{
			Name: "alertmanager_receivers",
			Help: "Number of configured receivers.",
		}),
		configuredIntegrations: f.NewGauge(prometheus.GaugeOpts{
			Name: "alertmanager_integrations",
			Help: "Number of configured integrations.",
		}),
		configuredInhibitionRules: f.NewGauge(prometheus.GaugeOpts{
			Name: "alertmanager_inhibition_rules",
			Help: "Number of configured inhibition rules.",
		}),
	}
}

func (m *metrics) instrumentHandler(name string, h http.HandlerFunc) http.HandlerFunc {
	l := prometheus.Labels{"handler": name}
	return promhttp.InstrumentHandlerDuration(m.requestDuration.MustCurryWith(l),
		promhttp.InstrumentHandlerResponseSize(m.responseSize.MustCurryWith(l), h))
}
