package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"k8s.io/kube-state-metrics/v2/pkg/builder"
	"k8s.io/kube-state-metrics/v2/pkg/metricshandler"
	"k8s.io/kube-state-metrics/v2/pkg/options"
	ksmwatch "k8s.io/kube-state-metrics/v2/pkg/watch"

	"github.com/panoptes-dev/panoptes/internal/gogc"
	"github.com/panoptes-dev/panoptes/internal/option"
	"github.com/panoptes-dev/panoptes/internal/version"
)

// Run serves the state of the cluster until ctx ends, or returns the first
// error of its setup or of a server. Errors about an option are
// *option.Errors naming its Options field.
func Run(ctx context.Context, o *Options, logger *slog.Logger) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if err := web.Validate(o.WebConfigFile); err != nil {
		return option.Invalid("WebConfigFile", "%s: %w", o.WebConfigFile, err)
	}
	crConfig, err := o.customResourceConfig()
	if err != nil {
		return err
	}
	gogc.Apply(o.GOGC)
	// client-go and kube-state-metrics log through klog: into our logger.
	klog.SetSlogLogger(logger)
	reg := version.NewRegistry()

	c, err := newClients(o.Kubeconfig)
	if err != nil {
		return err
	}
	names, namespaces := o.resourceNames(), o.namespaces()
	tr := newTracker()
	served := c.checkAccess(ctx, names, namespaces, tr, logger)
	sb, enabled, err := newStoreBuilder(o, c, crConfig, served, namespaces, tr, reg, logger)
	if err != nil {
		return err
	}
	// kube-state-metrics' handler runs the builds (sharding, automatic
	// sharding); the exposition serves /metrics from their stores.
	handler := metricshandler.New(shardingOptions(o), c.client, sb, o.EnableGZIP)
	srv, err := listen(o, sb.exposition, c.client, reg, sb.metrics, tr)
	if err != nil {
		return err
	}
	srv.webConfigFile, srv.logger = o.WebConfigFile, logger.With("component", "web")
	// One line with the bound addresses, which test/e2e (and operators)
	// read, and the resources served.
	logger.Info("listening", "metrics", srv.addrs.metrics.String(), "telemetry", srv.addrs.telemetry.String(),
		"resources", strings.Join(enabled, ","))
	return srv.run(ctx, handler)
}

// clients are the clients of the API server.
type clients struct {
	rest   *rest.Config
	client kubernetes.Interface
	// check is for the burst of small requests at start (the access
	// checks): not throttled to client-go's default 5 per second.
	check kubernetes.Interface
}

func newClients(kubeconfig string) (*clients, error) {
	restCfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil && kubeconfig != "" {
		return nil, option.Invalid("Kubeconfig", "%w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("kubeconfig (in-cluster): %w", err)
	}
	// As kube-state-metrics: protobuf is cheaper to decode than JSON.
	restCfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	restCfg.ContentType = "application/vnd.kubernetes.protobuf"
	restCfg.UserAgent = "panoptes-state"
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	checkCfg := rest.CopyConfig(restCfg)
	checkCfg.QPS, checkCfg.Burst = 200, 200
	check, err := kubernetes.NewForConfig(checkCfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &clients{rest: restCfg, client: client, check: check}, nil
}

// checkAccess is checkAccess with the check client, bounded to 30 s.
func (c *clients) checkAccess(ctx context.Context, names []string, namespaces options.NamespaceList, tr *tracker, logger *slog.Logger) []string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return checkAccess(ctx, c.check, names, namespaces, tr, logger)
}

// newStoreBuilder is kube-state-metrics' builder, set up to build the
// stores of the served resources and of the custom resources of crConfig.
// enabled names them all, the custom ones as the builder keys them.
func newStoreBuilder(o *Options, c *clients, crConfig string, served []string, namespaces options.NamespaceList,
	tr *tracker, reg prometheus.Registerer, logger *slog.Logger,
) (sb *storeBuilder, enabled []string, err error) {
	crFactories, err := customResourceFactories(crConfig, c.client, logger)
	if err != nil {
		return nil, nil, err
	}
	crClients := map[string]any{}
	enabled = append([]string(nil), served...)
	for _, f := range crFactories {
		cl, err := f.CreateClient(c.rest)
		if err != nil {
			return nil, nil, fmt.Errorf("custom resource %s: client: %w", f.Name(), err)
		}
		key := crKey(f.Name(), f.ExpectedType())
		crClients[key] = cl
		enabled = append(enabled, key)
		tr.enable(key)
	}
	filter, err := o.familyFilter()
	if err != nil {
		return nil, nil, err
	}
	fieldSelector := namespaces.GetExcludeNSFieldSelector(o.NamespacesDenylist)
	sb = &storeBuilder{
		Builder:       builder.NewBuilder(),
		client:        c.client,
		crClients:     crClients,
		filter:        filter,
		namespaces:    namespaces,
		fieldSelector: fieldSelector,
		tracker:       tr,
		// The list-watch metrics are recorded by the reflectors this
		// package starts (startStores) into reg; the builder's own
		// list-watch and sharding metrics land in a registry of their
		// own, as the same names cannot be registered twice.
		lwMetrics:  ksmwatch.NewListWatchMetrics(reg),
		metrics:    prometheus.NewRegistry(),
		releaser:   newReleaser(),
		exposition: &exposition{gzip: o.EnableGZIP, logger: logger.With("component", "metrics")},
		strip:      !o.KeepManagedFields,
		logger:     logger,
	}
	sb.WithMetrics(sb.metrics)
	sb.WithKubeClient(c.client)
	sb.WithFamilyGeneratorFilter(filter)
	sb.WithNamespaces(namespaces)
	sb.WithFieldSelectorFilter(fieldSelector)
	sb.WithGenerateStoresFunc(sb.buildStores)
	sb.WithGenerateCustomResourceStoresFunc(sb.buildCustomResourceStores)
	sb.WithCustomResourceClients(crClients)
	if len(crFactories) > 0 {
		sb.WithCustomResourceStoreFactories(crFactories...)
	}
	if err := sb.WithEnabledResources(enabled); err != nil {
		return nil, nil, fmt.Errorf("resources: %w", err)
	}
	if err := sb.WithAllowLabels(o.LabelsAllowList); err != nil {
		return nil, nil, option.Invalid("LabelsAllowList", "%w", err)
	}
	if err := sb.WithAllowAnnotations(o.AnnotationsAllowList); err != nil {
		return nil, nil, option.Invalid("AnnotationsAllowList", "%w", err)
	}
	return sb, enabled, nil
}

// shardingOptions are the options kube-state-metrics' metrics handler
// reads: the shard, or with Pod and PodNamespace automatic sharding (the
// handler follows the StatefulSet that owns the pod and reshards).
func shardingOptions(o *Options) *options.Options {
	kopts := options.NewOptions()
	kopts.Shard, kopts.TotalShards = o.Shard, o.TotalShards
	kopts.Pod, kopts.Namespace = o.Pod, o.PodNamespace
	return kopts
}

// addrs are the addresses the servers listen on.
type addrs struct {
	metrics, telemetry net.Addr
}

// servers are the /metrics and the telemetry servers, listening.
type servers struct {
	servers   []*http.Server
	listeners []net.Listener
	addrs     addrs
	// webConfigFile is Options.WebConfigFile; logger is the listeners'.
	webConfigFile string
	logger        *slog.Logger
}

// listen registers the self metrics and opens the /metrics server (handler,
// timed into http_request_duration_seconds) and the telemetry server
// (reg's and builderMetrics' metrics, /readyz from tr).
func listen(o *Options, handler http.Handler, client kubernetes.Interface, reg *prometheus.Registry, builderMetrics prometheus.Gatherer, tr *tracker) (*servers, error) {
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:        "http_request_duration_seconds",
		Help:        "A histogram of requests for the metrics handler (kube-state-metrics' name).",
		Buckets:     prometheus.DefBuckets,
		ConstLabels: prometheus.Labels{"handler": "metrics"},
	}, []string{"method"})
	if err := reg.Register(duration); err != nil {
		return nil, fmt.Errorf("self metrics: %w", err)
	}
	if err := reg.Register(tr); err != nil {
		return nil, fmt.Errorf("self metrics: %w", err)
	}
	metricsAddr, telemetryAddr := o.metricsAddress(), o.telemetryAddress()
	metricsLn, err := net.Listen("tcp", metricsAddr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", metricsAddr, err)
	}
	telLn, err := net.Listen("tcp", telemetryAddr)
	if err != nil {
		_ = metricsLn.Close()
		return nil, fmt.Errorf("listen %s: %w", telemetryAddr, err)
	}
	gatherer := prometheus.Gatherers{reg, builderMetrics}
	return &servers{
		servers: []*http.Server{
			{Handler: metricsMux(promhttp.InstrumentHandlerDuration(duration, handler), client), ReadHeaderTimeout: 5 * time.Second},
			{Handler: telemetryMux(gatherer, tr), ReadHeaderTimeout: 5 * time.Second},
		},
		listeners: []net.Listener{metricsLn, telLn},
		addrs:     addrs{metrics: metricsLn.Addr(), telemetry: telLn.Addr()},
	}, nil
}

// run runs the metrics handler (its reflectors) and serves until ctx ends
// or one of them stops, then shuts the servers down.
func (s *servers) run(ctx context.Context, handler *metricshandler.MetricsHandler) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	errc := make(chan error, len(s.servers)+1)
	go func() {
		err := handler.Run(ctx)
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		errc <- err
	}()
	for i, srv := range s.servers {
		go func() {
			// Both listeners take the one web config, as kube-state-metrics'
			// --tls-config; exporter-toolkit reads it again for every
			// connection (TLS) and request (users, headers).
			err := web.Serve(s.listeners[i], srv, &web.FlagConfig{WebConfigFile: &s.webConfigFile}, s.logger)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}()
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		if runErr == nil {
			runErr = errors.New("stopped unexpectedly")
		}
	}
	stop()
	shutdown, cancelShutdown := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancelShutdown()
	for _, srv := range s.servers {
		_ = srv.Shutdown(shutdown)
	}
	return runErr
}
