package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/panoptes-dev/panoptes/internal/collector"
	"github.com/panoptes-dev/panoptes/internal/collector/container"
	"github.com/panoptes-dev/panoptes/internal/cri"
	"github.com/panoptes-dev/panoptes/internal/kubelet"
)

// containerOptions are the agent's cAdvisor-replacement flags.
type containerOptions struct {
	enabled, disabled bool
	all               bool
	criEndpoint       string
	criTimeout        time.Duration
	nodeName          string
}

func (o *containerOptions) addFlags(fs *pflag.FlagSet) {
	host, _ := os.Hostname()
	fs.BoolVar(&o.enabled, "collector.container", true, "Report containers, pods and systemd services from the cgroup hierarchy with cAdvisor's metric names (container_*, machine_*), and serve the kubelet's /metrics/resource and /stats/summary. Reports no data on a host without cgroups.")
	fs.BoolVar(&o.disabled, "no-collector.container", false, "Disable the container collector and the kubelet-shaped endpoints.")
	fs.BoolVar(&o.all, "collector.container.all-cgroups", false, "Report every cgroup, not only the root, pods, containers and services (more series).")
	fs.StringVar(&o.criEndpoint, "container-runtime-endpoint", "", "CRI socket that names containers (pod, namespace, container, image); empty tries containerd's and then CRI-O's socket under --path.rootfs. Without an answering runtime, containers are named by their ID from the cgroup path.")
	fs.DurationVar(&o.criTimeout, "container-runtime-timeout", 2*time.Second, "Longest a CRI call may take; a slow or dead runtime never holds a scrape longer.")
	fs.StringVar(&o.nodeName, "node-name", host, "This node's name, as /stats/summary reports it.")
}

// criNamer adapts the CRI resolver to the collector's Namer.
type criNamer struct{ r *cri.Resolver }

func (n criNamer) Container(ctx context.Context, id string) (container.Info, bool) {
	i, ok := n.r.Lookup(ctx, id)
	if !ok {
		return container.Info{}, false
	}
	return container.Info{Container: i.ContainerName, Pod: i.PodName, Namespace: i.Namespace, Image: i.Image, Name: i.Name}, true
}

func (n criNamer) Pod(ctx context.Context, uid string) (string, string, bool) {
	return n.r.Pod(ctx, uid)
}

// build returns the container collector, the error counter and the kubelet
// routes, or nothing when disabled.
func (o *containerOptions) build(procRoot, sysRoot, rootFS string, logger *slog.Logger) (*collector.Named, []prometheus.Collector, map[string]http.Handler) {
	if !o.enabled || o.disabled {
		return nil, nil, nil
	}
	criCfg := cri.Config{RootFS: rootFS, Timeout: o.criTimeout}
	if o.criEndpoint != "" {
		criCfg.Endpoints = []string{o.criEndpoint}
	}
	errorsTotal := prometheus.NewCounter(prometheus.CounterOpts{
		Name:        "panoptes_collector_errors_total",
		Help:        "Errors reading a source that dropped part of a collector's output (a cgroup file that could not be read).",
		ConstLabels: prometheus.Labels{"collector": "container"},
	})
	c := container.New(container.Config{ProcRoot: procRoot, SysRoot: sysRoot, RootFS: rootFS, AllCgroups: o.all},
		criNamer{cri.New(criCfg, logger.With("component", "cri"))}, errorsTotal, logger.With("collector", "container"))
	routes := map[string]http.Handler{
		"/metrics/resource": kubelet.NewResourceHandler(c, logger),
		"/stats/summary":    kubelet.NewSummaryHandler(c, o.nodeName, logger, kubelet.WithProcRoot(procRoot)),
	}
	return &collector.Named{Name: "container", Collector: c}, []prometheus.Collector{errorsTotal}, routes
}
