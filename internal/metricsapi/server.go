package metricsapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	apimetrics "k8s.io/apiserver/pkg/endpoints/metrics"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/healthz"
	utilcompatibility "k8s.io/apiserver/pkg/util/compatibility"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"
	openapicommon "k8s.io/kube-openapi/pkg/common"

	"sigs.k8s.io/metrics-server/pkg/api"
	generatedopenapi "sigs.k8s.io/metrics-server/pkg/api/generated/openapi"

	cmapiserver "sigs.k8s.io/custom-metrics-apiserver/pkg/apiserver"
	cmcoreopenapi "sigs.k8s.io/custom-metrics-apiserver/pkg/generated/openapi/core"
	cmcustomopenapi "sigs.k8s.io/custom-metrics-apiserver/pkg/generated/openapi/custommetrics"
	cmexternalopenapi "sigs.k8s.io/custom-metrics-apiserver/pkg/generated/openapi/externalmetrics"

	"github.com/panoptes-dev/panoptes/internal/metricsapi/custom"
	"github.com/panoptes-dev/panoptes/internal/option"
	"github.com/panoptes-dev/panoptes/internal/version"
)

// Server is the running metrics API.
type Server struct {
	generic   *genericapiserver.GenericAPIServer
	collector *Collector
	store     *Store
	start     []func(<-chan struct{})
	run       []func(context.Context)
	synced    []cache.InformerSynced
	logger    *slog.Logger
	reg       *prometheus.Registry
	// What Run logs at start.
	source     string
	resolution time.Duration
	port       int
}

// New builds the server: informers, collector, the metrics.k8s.io group
// (and the custom and external metrics groups when configured), health
// checks and /metrics. Run starts it.
func New(o *Options, logger *slog.Logger) (*Server, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	// k8s.io/apiserver and client-go log through klog: send it to our logger.
	klog.SetSlogLogger(logger)

	restCfg, err := o.restConfig()
	if err != nil {
		return nil, err
	}
	cfg, err := apiserverConfig(o)
	if err != nil {
		return nil, err
	}
	s := &Server{logger: logger, reg: prometheus.NewRegistry(),
		source: o.Source, resolution: o.MetricResolution, port: o.SecureServing.BindPort}
	if err := s.buildAPIServer(cfg, o, restCfg); err != nil {
		return nil, err
	}

	protoCfg := rest.CopyConfig(restCfg)
	protoCfg.ContentType = "application/vnd.kubernetes.protobuf"
	client, err := kubernetes.NewForConfig(protoCfg)
	if err != nil {
		return nil, fmt.Errorf("client for the Kubernetes API: %w", err)
	}
	nodes, pods, err := s.watchNodesAndPods(client, restCfg)
	if err != nil {
		return nil, err
	}
	src := s.targets(o, client, nodes)
	if err := s.buildCollector(o, restCfg, client, src); err != nil {
		return nil, err
	}

	nodeSel, _ := labels.Parse(o.NodeSelector)
	var nodeReqs []labels.Requirement
	if o.NodeSelector != "" {
		nodeReqs, _ = nodeSel.Requirements()
	}
	if err := api.Install(s.store, pods.Lister(), nodes.Lister(), s.generic, nodeReqs); err != nil {
		return nil, fmt.Errorf("install metrics.k8s.io: %w", err)
	}
	s.serveSelfMetrics()
	if err := s.addHealthChecks(o.MetricResolution); err != nil {
		return nil, err
	}
	return s, nil
}

// apiserverConfig is k8s.io/apiserver's configuration from the options:
// secure serving (self-signed certificates when none are given), delegated
// authentication and authorization, and the OpenAPI documents.
func apiserverConfig(o *Options) (*genericapiserver.Config, error) {
	// With a Kubeconfig and no separate authentication/authorization
	// kubeconfig, delegate through the same one (as out of cluster).
	if o.Kubeconfig != "" {
		if o.Authentication.RemoteKubeConfigFile == "" {
			o.Authentication.RemoteKubeConfigFile = o.Kubeconfig
		}
		if o.Authorization.RemoteKubeConfigFile == "" {
			o.Authorization.RemoteKubeConfigFile = o.Kubeconfig
		}
	}
	host, _ := os.Hostname()
	if err := o.SecureServing.MaybeDefaultWithSelfSignedCerts("localhost", []string{host}, []net.IP{net.ParseIP("127.0.0.1")}); err != nil {
		return nil, fmt.Errorf("create self-signed serving certificate in --cert-dir: %w", err)
	}
	cfg := genericapiserver.NewConfig(api.Codecs)
	if err := o.SecureServing.ApplyTo(&cfg.SecureServing, &cfg.LoopbackClientConfig); err != nil {
		return nil, fmt.Errorf("secure serving: %w", err)
	}
	if err := o.Authentication.ApplyTo(&cfg.Authentication, cfg.SecureServing, nil); err != nil {
		return nil, fmt.Errorf("delegated authentication: %w", err)
	}
	if err := o.Authorization.ApplyTo(&cfg.Authorization); err != nil {
		return nil, fmt.Errorf("delegated authorization: %w", err)
	}
	v := strings.Split(version.Get().Version, "-")[0]
	defs, namer := openAPIDefinitions(o.Custom.PrometheusURL != "")
	cfg.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(defs, namer)
	cfg.OpenAPIConfig.Info.Title, cfg.OpenAPIConfig.Info.Version = "Panoptes metrics API", v
	cfg.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(defs, namer)
	cfg.OpenAPIV3Config.Info.Title, cfg.OpenAPIV3Config.Info.Version = "Panoptes metrics API", v
	cfg.EffectiveVersion = utilcompatibility.DefaultBuildEffectiveVersion()
	// Our /metrics serves the apiserver's metrics and ours together.
	cfg.EnableMetrics = false
	return cfg, nil
}

// openAPIDefinitions are metrics.k8s.io's, and with withCustom the custom
// and external metrics groups' too.
func openAPIDefinitions(withCustom bool) (openapicommon.GetOpenAPIDefinitions, *openapinamer.DefinitionNamer) {
	if !withCustom {
		return generatedopenapi.GetOpenAPIDefinitions, openapinamer.NewDefinitionNamer(api.Scheme)
	}
	defs := func(ref openapicommon.ReferenceCallback) map[string]openapicommon.OpenAPIDefinition {
		m := generatedopenapi.GetOpenAPIDefinitions(ref)
		for _, more := range []openapicommon.GetOpenAPIDefinitions{cmcoreopenapi.GetOpenAPIDefinitions, cmcustomopenapi.GetOpenAPIDefinitions, cmexternalopenapi.GetOpenAPIDefinitions} {
			for k, d := range more(ref) {
				m[k] = d
			}
		}
		return m
	}
	return defs, openapinamer.NewDefinitionNamer(api.Scheme, cmapiserver.Scheme)
}

// buildAPIServer builds the generic API server: an empty one, or with a
// PrometheusURL custom-metrics-apiserver's, which serves the custom and
// external groups (metrics.k8s.io is installed beside them later).
func (s *Server) buildAPIServer(cfg *genericapiserver.Config, o *Options, restCfg *rest.Config) error {
	var err error
	if o.Custom.PrometheusURL == "" {
		s.generic, err = cfg.Complete(nil).New("panoptes-metrics-api", genericapiserver.NewEmptyDelegate())
	} else {
		var prov *custom.Provider
		if prov, err = newCustomProvider(&o.Custom, restCfg, s.logger); err != nil {
			return err
		}
		var cm *cmapiserver.CustomMetricsAdapterServer
		cm, err = (&cmapiserver.Config{GenericConfig: cfg}).Complete(nil).New("panoptes-metrics-api", prov, prov)
		if cm != nil {
			s.generic = cm.GenericAPIServer
		}
		interval := o.Custom.RelistInterval
		s.run = append(s.run, func(ctx context.Context) { prov.Run(ctx, interval) })
	}
	if err != nil {
		return fmt.Errorf("build the API server: %w", err)
	}
	return nil
}

// watchNodesAndPods sets up the node and the running pods' metadata
// informers, slimmed to what the API and the collector read; Run starts
// them.
func (s *Server) watchNodesAndPods(client kubernetes.Interface, restCfg *rest.Config) (coreinformers.NodeInformer, informers.GenericInformer, error) {
	mdClient, err := metadata.NewForConfig(restCfg)
	if err != nil {
		return nil, nil, fmt.Errorf("metadata client for the Kubernetes API: %w", err)
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	nodeInf := factory.Core().V1().Nodes()
	if err := nodeInf.Informer().SetTransform(slimNode); err != nil {
		return nil, nil, fmt.Errorf("node informer: %w", err)
	}
	// Only running pods have usage, as in metrics-server; their metadata is
	// all the API needs (names and labels).
	podFactory := metadatainformer.NewFilteredSharedInformerFactory(mdClient, 0, corev1.NamespaceAll, func(lo *metav1.ListOptions) {
		lo.FieldSelector = "status.phase=Running"
	})
	podInf := podFactory.ForResource(corev1.SchemeGroupVersion.WithResource("pods"))
	if err := podInf.Informer().SetTransform(slimPodMetadata); err != nil {
		return nil, nil, fmt.Errorf("pod informer: %w", err)
	}
	s.start = append(s.start, factory.Start, podFactory.Start)
	s.synced = append(s.synced, nodeInf.Informer().HasSynced, podInf.Informer().HasSynced)
	return nodeInf, podInf, nil
}

// targets is where node usage is scraped from: each node's kubelet, or with
// SourceAgents the agent pods (whose informer it sets up).
func (s *Server) targets(o *Options, client kubernetes.Interface, nodes coreinformers.NodeInformer) targetSource {
	if o.Source == SourceAgents {
		agentFactory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(o.Agents.Namespace),
			informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = o.Agents.Selector }))
		agentInf := agentFactory.Core().V1().Pods()
		s.start = append(s.start, agentFactory.Start)
		s.synced = append(s.synced, agentInf.Informer().HasSynced)
		sel, _ := labels.Parse(o.Agents.Selector)
		return &agentTargets{pods: agentInf.Lister(), namespace: o.Agents.Namespace, selector: sel, port: o.Agents.Port, path: "/metrics/resource"}
	}
	nodeSel, _ := labels.Parse(o.NodeSelector)
	types := make([]corev1.NodeAddressType, len(o.Kubelet.PreferredAddressTypes))
	for i, t := range o.Kubelet.PreferredAddressTypes {
		types[i] = corev1.NodeAddressType(t)
	}
	return &kubeletTargets{nodes: nodes.Lister(), selector: nodeSel, addressTypes: types, port: o.Kubelet.Port,
		useNodeStatusPort: o.Kubelet.UseNodeStatusPort, path: "/metrics/resource"}
}

// buildCollector builds the store and the collector that fills it from src
// through the kubelet transport.
func (s *Server) buildCollector(o *Options, restCfg *rest.Config, client kubernetes.Interface, src targetSource) error {
	rt, err := o.kubeletTransport(restCfg)
	if err != nil {
		return err
	}
	if o.Kubelet.InsecureTLS {
		// Validate refuses it with the agents; with the kubelets it is
		// metrics-server's flag, kept for tests.
		s.logger.Warn("--kubelet-insecure-tls: the kubelets' serving certificates are NOT verified, and this server's credentials go to whatever answers on their addresses; give --kubelet-certificate-authority instead")
	}
	var identity atomic.Value
	identity.Store("")
	go func() {
		// Who the kubelets see, for the RBAC hint of a 403 (best effort).
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err == nil {
			identity.Store(r.Status.UserInfo.Username)
		}
	}()
	s.store = NewStore(o.MetricResolution, s.logger)
	s.collector = newCollector(CollectorConfig{
		Resolution:  o.MetricResolution,
		Timeout:     o.Kubelet.RequestTimeout,
		Concurrency: o.Concurrency,
	}, src, &http.Client{Transport: rt}, s.store, s.reg, func() string { return identity.Load().(string) }, s.logger)
	return nil
}

// serveSelfMetrics serves /metrics: the apiserver's request metrics
// (apiserver_request_total, ...), as metrics-server registers them, go_*
// and process_* from k8s.io/component-base's legacy registry, and ours.
func (s *Server) serveSelfMetrics() {
	apimetrics.Register()
	gatherers := prometheus.Gatherers{legacyregistry.DefaultGatherer, s.reg}
	s.generic.Handler.NonGoRestfulMux.Handle("/metrics", promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{}))
}

// addHealthChecks adds readiness (the first collection stored points, the
// informers synced) and liveness (no collection cycle overdue).
func (s *Server) addHealthChecks(resolution time.Duration) error {
	if err := s.generic.AddReadyzChecks(
		healthz.NamedCheck("metric-storage-ready", func(*http.Request) error {
			if !s.store.Ready() {
				return errors.New("no metrics to serve yet: the first collection has not stored any point")
			}
			return nil
		}),
		healthz.NamedCheck("metric-informer-sync", func(*http.Request) error {
			for _, synced := range s.synced {
				if !synced() {
					return errors.New("the node and pod informers have not synced")
				}
			}
			return nil
		}),
	); err != nil {
		return err
	}
	return s.generic.AddLivezChecks(0, healthz.NamedCheck("metric-collection-timely", func(*http.Request) error {
		start, end := s.collector.LastCycle()
		if !start.IsZero() && end.Before(start) && time.Since(start) > resolution*3/2 {
			return fmt.Errorf("the collection cycle started %s ago has not finished", time.Since(start).Round(time.Second))
		}
		return nil
	}))
}

// Run starts the informers, the collection loop and the secure server, and
// blocks until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	s.logger.Info("starting panoptes metrics-api", "source", s.source, "resolution", s.resolution, "port", s.port)
	for _, start := range s.start {
		start(ctx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), s.synced...) {
		return ctx.Err()
	}
	go s.collector.Run(ctx)
	for _, run := range s.run {
		go run(ctx)
	}
	return s.generic.PrepareRun().RunWithContext(ctx)
}

// newCustomProvider builds the PromQL-backed provider of the custom and
// external metrics APIs.
func newCustomProvider(o *CustomOptions, restCfg *rest.Config, logger *slog.Logger) (*custom.Provider, error) {
	rules, err := custom.LoadConfig(o.ConfigFile)
	if err != nil {
		return nil, err
	}
	pc, err := promapi.NewClient(promapi.Config{Address: o.PrometheusURL})
	if err != nil {
		return nil, option.Invalid("Custom.PrometheusURL", "%w", err)
	}
	md, err := metadata.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("metadata client: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return custom.NewProvider(rules, promv1.NewAPI(pc), &custom.MetadataObjects{Client: md, Mapper: mapper}, logger.With("api", "custom.metrics.k8s.io")), nil
}

// slimNode keeps what the API and the collector read of a Node (name,
// labels, addresses, kubelet port), so that 1,000 nodes with their image
// lists and managed fields do not sit in memory.
func slimNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels, UID: n.UID, ResourceVersion: n.ResourceVersion},
		Status: corev1.NodeStatus{
			Addresses:       n.Status.Addresses,
			DaemonEndpoints: n.Status.DaemonEndpoints,
		},
	}, nil
}

// slimPodMetadata drops what PodMetrics does not carry.
func slimPodMetadata(obj any) (any, error) {
	p, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil
	}
	p.ManagedFields = nil
	p.Annotations = nil
	p.OwnerReferences = nil
	p.Finalizers = nil
	return p, nil
}
