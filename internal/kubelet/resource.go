package kubelet

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/panoptes-dev/panoptes/internal/collector"
	"github.com/panoptes-dev/panoptes/internal/httpgzip"
)

// The kubelet's resource metrics (pkg/kubelet/metrics/collectors/
// resource_metrics.go, Kubernetes v1.37), with the help prefixes that
// k8s.io/component-base adds by stability level. scrape_error, deprecated in
// 1.29.0, is hidden by component-base since 1.31 and not served.
var (
	nodeCPUUsageDesc = collector.NewRawTypedDesc("node_cpu_usage_seconds_total",
		"[STABLE] Cumulative cpu time consumed by the node in core-seconds", prometheus.CounterValue)
	nodeMemoryUsageDesc = collector.NewRawTypedDesc("node_memory_working_set_bytes",
		"[STABLE] Current working set of the node in bytes", prometheus.GaugeValue)
	nodeSwapUsageDesc = collector.NewRawTypedDesc("node_swap_usage_bytes",
		"[ALPHA] Current swap usage of the node in bytes. Reported only on non-windows systems", prometheus.GaugeValue)
	containerCPUUsageDesc = collector.NewRawTypedDesc("container_cpu_usage_seconds_total",
		"[STABLE] Cumulative cpu time consumed by the container in core-seconds", prometheus.CounterValue,
		"container", "pod", "namespace")
	containerMemoryUsageDesc = collector.NewRawTypedDesc("container_memory_working_set_bytes",
		"[STABLE] Current working set of the container in bytes", prometheus.GaugeValue,
		"container", "pod", "namespace")
	containerSwapUsageDesc = collector.NewRawTypedDesc("container_swap_usage_bytes",
		"[ALPHA] Current amount of the container swap usage in bytes. Reported only on non-windows systems", prometheus.GaugeValue,
		"container", "pod", "namespace")
	podCPUUsageDesc = collector.NewRawTypedDesc("pod_cpu_usage_seconds_total",
		"[STABLE] Cumulative cpu time consumed by the pod in core-seconds", prometheus.CounterValue,
		"pod", "namespace")
	podMemoryUsageDesc = collector.NewRawTypedDesc("pod_memory_working_set_bytes",
		"[STABLE] Current working set of the pod in bytes", prometheus.GaugeValue,
		"pod", "namespace")
	podSwapUsageDesc = collector.NewRawTypedDesc("pod_swap_usage_bytes",
		"[ALPHA] Current amount of the pod swap usage in bytes. Reported only on non-windows systems", prometheus.GaugeValue,
		"pod", "namespace")
	resourceScrapeErrorDesc = collector.NewRawTypedDesc("resource_scrape_error",
		"[STABLE] 1 if there was an error while getting container metrics, 0 otherwise", prometheus.GaugeValue)
	containerStartTimeDesc = collector.NewRawTypedDesc("container_start_time_seconds",
		"[STABLE] Start time of the container since unix epoch in seconds", prometheus.GaugeValue,
		"container", "pod", "namespace")
)

type resourceHandler struct {
	src    SnapshotSource
	logger *slog.Logger
}

// NewResourceHandler serves the kubelet's /metrics/resource: the CPU time,
// memory working set and swap usage of the node (root cgroup), of each pod
// and of each of its containers (the pod sandbox left out), the containers'
// start times, and resource_scrape_error. Samples carry the time their cgroup
// was read, as metrics-server expects.
func NewResourceHandler(src SnapshotSource, logger *slog.Logger) http.Handler {
	return &resourceHandler{src: src, logger: logger}
}

func (h *resourceHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b := h.render(r)
	writeBody(w, r, string(expfmt.FmtText), b, h.logger)
}

// render builds the exposition as the kubelet's collector does: from the
// CPU-and-memory summary.
func (h *resourceHandler) render(r *http.Request) []byte {
	var samples []*collector.Sample
	add := func(m prometheus.Metric) { samples = append(samples, m.(*collector.Sample)) }
	scrapeError := 0.0
	snap, err := h.src.Snapshot(r.Context())
	var s Summary
	if err == nil {
		s, err = buildSummary(&snap, "", buildOptions{})
	}
	if err != nil {
		scrapeError = 1
		h.logger.Error("getting the summary for /metrics/resource", "err", err)
	} else {
		samples = appendResourceSamples(samples, &s)
	}
	add(resourceScrapeErrorDesc.Metric(scrapeError))

	fams, dups := collector.GroupFamilies(samples)
	if dups > 0 {
		// Two pods of one name and namespace (a static pod being replaced):
		// a registry would drop the repeats too.
		h.logger.Debug("duplicate series in /metrics/resource; served the first of each", "count", dups)
	}
	var b []byte
	for _, f := range fams {
		b = f.AppendText(b)
	}
	return b
}

// appendResourceSamples is the kubelet's CollectWithStability.
func appendResourceSamples(samples []*collector.Sample, s *Summary) []*collector.Sample {
	add := func(m prometheus.Metric) { samples = append(samples, m.(*collector.Sample)) }
	cpuSeconds := func(c *CPUStats) float64 { return float64(*c.UsageCoreNanoSeconds) / float64(time.Second) }

	n := &s.Node
	if n.CPU != nil && n.CPU.UsageCoreNanoSeconds != nil {
		add(nodeCPUUsageDesc.MetricAt(n.CPU.Time.Time, cpuSeconds(n.CPU)))
	}
	if n.Memory != nil && n.Memory.WorkingSetBytes != nil {
		add(nodeMemoryUsageDesc.MetricAt(n.Memory.Time.Time, float64(*n.Memory.WorkingSetBytes)))
	}
	if n.Swap != nil && n.Swap.SwapUsageBytes != nil && n.Memory != nil {
		// The kubelet stamps it with the memory's time.
		add(nodeSwapUsageDesc.MetricAt(n.Memory.Time.Time, float64(*n.Swap.SwapUsageBytes)))
	}
	for i := range s.Pods {
		p := &s.Pods[i]
		pod, ns := p.PodRef.Name, p.PodRef.Namespace
		for j := range p.Containers {
			c := &p.Containers[j]
			if c.StartTime.Unix() > 0 {
				add(containerStartTimeDesc.Metric(float64(c.StartTime.UnixNano())/float64(time.Second), c.Name, pod, ns))
			}
			if c.CPU != nil && c.CPU.UsageCoreNanoSeconds != nil {
				add(containerCPUUsageDesc.MetricAt(c.CPU.Time.Time, cpuSeconds(c.CPU), c.Name, pod, ns))
			}
			if c.Memory != nil && c.Memory.WorkingSetBytes != nil {
				add(containerMemoryUsageDesc.MetricAt(c.Memory.Time.Time, float64(*c.Memory.WorkingSetBytes), c.Name, pod, ns))
			}
			if c.Swap != nil && c.Swap.SwapUsageBytes != nil {
				add(containerSwapUsageDesc.MetricAt(c.Swap.Time.Time, float64(*c.Swap.SwapUsageBytes), c.Name, pod, ns))
			}
		}
		if p.CPU != nil && p.CPU.UsageCoreNanoSeconds != nil {
			add(podCPUUsageDesc.MetricAt(p.CPU.Time.Time, cpuSeconds(p.CPU), pod, ns))
		}
		if p.Memory != nil && p.Memory.WorkingSetBytes != nil {
			add(podMemoryUsageDesc.MetricAt(p.Memory.Time.Time, float64(*p.Memory.WorkingSetBytes), pod, ns))
		}
		if p.Swap != nil && p.Swap.SwapUsageBytes != nil {
			add(podSwapUsageDesc.MetricAt(p.Swap.Time.Time, float64(*p.Swap.SwapUsageBytes), pod, ns))
		}
	}
	return samples
}

// writeBody writes a response body, gzipped when the client accepts it.
func writeBody(w http.ResponseWriter, r *http.Request, contentType string, b []byte, logger *slog.Logger) {
	w.Header().Set("Content-Type", contentType)
	if r.Method == http.MethodHead {
		w.Header().Add("Vary", "Accept-Encoding")
		if httpgzip.Accepts(r.Header.Get("Accept-Encoding")) {
			w.Header().Set("Content-Encoding", "gzip")
		} else {
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		}
		return
	}
	if err := httpgzip.Respond(w, r, b); err != nil {
		logger.Debug("writing response", "err", err)
	}
}
