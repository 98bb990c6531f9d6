package agent

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
	"github.com/panoptes-dev/panoptes/internal/collector/container"
	"github.com/panoptes-dev/panoptes/internal/collector/host"
	"github.com/panoptes-dev/panoptes/internal/cri"
	"github.com/panoptes-dev/panoptes/internal/gogc"
	"github.com/panoptes-dev/panoptes/internal/kubelet"
)

// Run is the agent role: it validates o, sets the runtime's GOMAXPROCS and
// GOGC, builds the collectors and serves them (and, with o.Kubelet.Address,
// the kubelet-shaped endpoints over HTTPS) until ctx ends.
func Run(ctx context.Context, o *Options, logger *slog.Logger) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if o.GOMAXPROCS > 0 {
		runtime.GOMAXPROCS(o.GOMAXPROCS)
	}
	gogc.Apply(o.GOGC)
	built, err := o.Collectors.Build(logger)
	if err != nil {
		return err
	}
	a, err := New(Config{
		Listen:                 o.Listen,
		MetricsPath:            o.MetricsPath,
		Collectors:             built.Collectors,
		CollectorTimeout:       o.Collectors.Timeout,
		MaxRequests:            o.MaxRequests,
		DisableExporterMetrics: o.DisableExporterMetrics,
		Own:                    built.Own,
		Handlers:               plainHandlers(o, built.Handlers),
		WebConfigFile:          o.WebConfigFile,
	}, logger)
	if err != nil {
		return err
	}
	hc := o.Collectors.Host
	logger.Info("starting panoptes agent", "collectors", strings.Join(built.Names, ","),
		"procfs", hc.ProcRoot, "sysfs", hc.SysRoot, "rootfs", hc.RootFS)
	onListen := func(addr net.Addr) {
		logger.Info("listening", "address", addr.String(), "metrics", o.MetricsPath)
	}
	if o.Kubelet.Address == "" {
		return a.Run(ctx, onListen)
	}
	kc := o.Kubelet
	// The kubelet-shaped listener has a bound of its own, as large: a flood
	// on the plain metrics port cannot starve the authenticated clients
	// (metrics-server) of this one.
	kc.Handlers = limitEach(o.MaxRequests, built.Handlers)
	kc.NodeName = o.Collectors.Container.NodeName
	if kc.Guard == nil {
		newGuard := kc.NewGuard
		if newGuard == nil {
			newGuard = NewStdKubeletGuard
		}
		if kc.Guard, err = newGuard(ctx, kc.Auth, logger); err != nil {
			return fmt.Errorf("kubelet endpoint authentication: %w", err)
		}
	}
	return runWithKubelet(ctx, a, onListen, kc, logger)
}

// plainHandlers are the kubelet-shaped routes the metrics port serves: none
// unless asked for, as they list every pod on the node and that port has
// no Kubernetes authentication (the kubelet address has).
func plainHandlers(o *Options, h map[string]http.Handler) map[string]http.Handler {
	if !o.EnableKubeletEndpointsOnListen {
		return nil
	}
	return h
}

// runWithKubelet runs the agent and its HTTPS kubelet endpoints together;
// either failing stops both.
func runWithKubelet(ctx context.Context, a *Agent, onListen func(net.Addr), kc KubeletConfig, logger *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- a.Run(ctx, onListen) }()
	go func() {
		errc <- ServeKubelet(ctx, kc, logger, func(addr net.Addr) {
			logger.Info("listening for kubelet-shaped endpoints over TLS", "kubelet_address", addr.String())
		})
	}()
	err := <-errc
	cancel()
	if err2 := <-errc; err == nil {
		err = err2
	}
	return err
}

// Built are the collectors CollectorOptions.Build made.
type Built struct {
	// Collectors run on each scrape; Names are their names.
	Collectors []collector.Named
	Names      []string
	// Own are metrics about the collectors (the container collector's
	// error counter) and node_exporter_build_info, served with the agent's
	// own.
	Own []prometheus.Collector
	// Handlers are the container collector's kubelet-shaped routes
	// (/metrics/resource, /stats/summary), by path; nil without it.
	Handlers map[string]http.Handler
}

// Build makes the enabled collectors. Call Validate first.
func (o *CollectorOptions) Build(logger *slog.Logger) (*Built, error) {
	names := o.names()
	hc := o.Host
	// An include pattern given alone replaces the default exclude, as in
	// node_exporter (the two cannot be combined).
	def := host.DefaultConfig()
	if hc.Diskstats.DeviceInclude != "" && hc.Diskstats.DeviceExclude == def.Diskstats.DeviceExclude {
		hc.Diskstats.DeviceExclude = ""
	}
	if hc.Netdev.DeviceInclude != "" && hc.Netdev.DeviceExclude == def.Netdev.DeviceExclude {
		hc.Netdev.DeviceExclude = ""
	}
	hostNames := names
	withContainer := len(names) > 0 && names[len(names)-1] == ContainerName
	if withContainer {
		hostNames = names[:len(names)-1]
	}
	named, err := host.New(hostNames, hc, logger)
	if err != nil {
		return nil, err
	}
	b := &Built{Collectors: named, Names: names}
	if withContainer {
		c, own, routes := o.Container.build(hc, logger)
		b.Collectors = append(b.Collectors, c)
		b.Own, b.Handlers = own, routes
	}
	// Served with go_* and process_*, and dropped with them by
	// --web.disable-exporter-metrics, as in node_exporter.
	b.Own = append(b.Own, newNodeExporterBuildInfo())
	return b, nil
}

// build returns the container collector, its error counter and the
// kubelet-shaped routes.
func (o *ContainerOptions) build(hc host.Config, logger *slog.Logger) (collector.Named, []prometheus.Collector, map[string]http.Handler) {
	criCfg := cri.Config{RootFS: hc.RootFS, Timeout: o.CRITimeout}
	if o.CRIEndpoint != "" {
		criCfg.Endpoints = []string{o.CRIEndpoint}
	}
	errorsTotal := prometheus.NewCounter(prometheus.CounterOpts{
		Name:        "panoptes_collector_errors_total",
		Help:        "Errors reading a source that dropped part of a collector's output (a cgroup file that could not be read).",
		ConstLabels: prometheus.Labels{"collector": ContainerName},
	})
	// The sockets the resolver tries, reported by the collector so that a
	// host without containers says what was looked for.
	endpoints := criCfg.Endpoints
	if len(endpoints) == 0 {
		root := cmp.Or(hc.RootFS, "/")
		for _, p := range cri.DefaultEndpoints {
			endpoints = append(endpoints, filepath.Join(root, p))
		}
	}
	namer := criNamer{cri.New(criCfg, logger.With("component", "cri"))}
	c := container.New(container.Config{ProcRoot: hc.ProcRoot, SysRoot: hc.SysRoot, RootFS: hc.RootFS, AllCgroups: o.AllCgroups, RuntimeEndpoints: endpoints,
		Fs: namer, FsUsagePeriod: o.FsUsagePeriod,
		// OOM kills of containers removed before the next scrape; readable
		// by root (without it, what the cgroups' counters show).
		KmsgPath: "/dev/kmsg"},
		namer, errorsTotal, logger.With("collector", ContainerName))
	routes := map[string]http.Handler{
		"/metrics/resource": kubelet.NewResourceHandler(c, logger),
		"/stats/summary":    kubelet.NewSummaryHandler(c, o.NodeName, logger, kubelet.WithProcRoot(hc.ProcRoot)),
	}
	return collector.Named{Name: ContainerName, Collector: c}, []prometheus.Collector{errorsTotal}, routes
}

// criNamer adapts the CRI resolver to the container collector's Namer.
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

// WritableLayers implements container.FsSource.
func (n criNamer) WritableLayers(ctx context.Context) ([]container.Layer, error) {
	ws, err := n.r.WritableLayers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]container.Layer, len(ws))
	for i, w := range ws {
		out[i] = container.Layer{ID: w.ID, Container: w.ContainerName, Pod: w.PodName, Namespace: w.Namespace, PodUID: w.PodUID,
			Mountpoint: w.Mountpoint, UsedBytes: w.UsedBytes, InodesUsed: w.InodesUsed, Time: w.Time}
	}
	return out, nil
}
