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
	genericoptions "k8s.io/apiserver/pkg/server/options"
	utilcompatibility "k8s.io/apiserver/pkg/util/compatibility"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
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
	"github.com/panoptes-dev/panoptes/internal/version"
)

// Sources of node usage (--source).
const (
	SourceKubelet = "kubelet"
	SourceAgents  = "agents"
)

// KubeletOptions say how kubelets (or agents) are reached; the names follow
// metrics-server's flags.
type KubeletOptions struct {
	InsecureTLS           bool
	UseNodeStatusPort     bool
	Port                  int
	PreferredAddressTypes []string
	CAFile                string
	ClientCertFile        string
	ClientKeyFile         string
	RequestTimeout        time.Duration
}

// AgentOptions say where the agents are with --source=agents.
type AgentOptions struct {
	Namespace string
	Selector  string
	Port      int
}

// Options configure the API server. The apiserver option structs are
// k8s.io/apiserver's; cmd/panoptes adds their flags.
type Options struct {
	SecureServing  *genericoptions.SecureServingOptionsWithLoopback
	Authentication *genericoptions.DelegatingAuthenticationOptions
	Authorization  *genericoptions.DelegatingAuthorizationOptions

	// Kubeconfig is used for the API server (informers) and, with its
	// credentials and CA, for the kubelets; empty means in-cluster.
	Kubeconfig       string
	MetricResolution time.Duration
	Kubelet          KubeletOptions
	// Source is SourceKubelet or SourceAgents.
	Source       string
	Agents       AgentOptions
	NodeSelector string
	// Concurrency bounds the nodes scraped at once.
	Concurrency int

	// Custom, when its PrometheusURL is set, also serves
	// custom.metrics.k8s.io and external.metrics.k8s.io.
	Custom CustomOptions
}

// CustomOptions configure the custom and external metrics APIs, with
// prometheus-adapter's flag names where it has them.
type CustomOptions struct {
	// PrometheusURL is the Prometheus-compatible API (panoptes server).
	PrometheusURL string
	// ConfigFile holds the rules, in prometheus-adapter's format.
	ConfigFile string
	// RelistInterval is how often the rules' series are rediscovered.
	RelistInterval time.Duration
}

// NewOptions returns metrics-server's defaults.
func NewOptions() *Options {
	o := &Options{
		SecureServing:    genericoptions.NewSecureServingOptions().WithLoopback(),
		Authentication:   genericoptions.NewDelegatingAuthenticationOptions(),
		Authorization:    genericoptions.NewDelegatingAuthorizationOptions(),
		MetricResolution: 15 * time.Second,
		Kubelet: KubeletOptions{
			Port:                  10250,
			PreferredAddressTypes: []string{string(corev1.NodeHostName), string(corev1.NodeInternalDNS), string(corev1.NodeInternalIP), string(corev1.NodeExternalDNS), string(corev1.NodeExternalIP)},
			RequestTimeout:        10 * time.Second,
		},
		Source:      SourceKubelet,
		Agents:      AgentOptions{Selector: "app.kubernetes.io/name=panoptes-agent", Port: 10250},
		Concurrency: 64,
	}
	o.SecureServing.BindPort = 4443
	o.SecureServing.ServerCert.CertDirectory = "apiserver.local.config/certificates"
	return o
}

// Validate reports contradicting or out-of-range options.
func (o *Options) Validate() error {
	var errs []error
	if o.MetricResolution < 10*time.Second {
		errs = append(errs, fmt.Errorf("--metric-resolution %v: must be at least 10s (the kubelet refreshes its stats every 10s)", o.MetricResolution))
	}
	if o.Kubelet.RequestTimeout <= 0 {
		errs = append(errs, errors.New("--kubelet-request-timeout must be positive"))
	} else if o.MetricResolution*9/10 < o.Kubelet.RequestTimeout {
		errs = append(errs, fmt.Errorf("--kubelet-request-timeout %v must be under 90%% of --metric-resolution %v", o.Kubelet.RequestTimeout, o.MetricResolution))
	}
	if o.Kubelet.CAFile != "" && o.Kubelet.InsecureTLS {
		errs = append(errs, errors.New("--kubelet-certificate-authority and --kubelet-insecure-tls contradict each other"))
	}
	if (o.Kubelet.ClientCertFile == "") != (o.Kubelet.ClientKeyFile == "") {
		errs = append(errs, errors.New("--kubelet-client-certificate and --kubelet-client-key go together"))
	}
	if o.Source != SourceKubelet && o.Source != SourceAgents {
		errs = append(errs, fmt.Errorf("--source %q: must be kubelet or agents", o.Source))
	}
	if o.Concurrency < 1 {
		errs = append(errs, errors.New("--kubelet-concurrency must be at least 1"))
	}
	for _, t := range o.Kubelet.PreferredAddressTypes {
		switch corev1.NodeAddressType(t) {
		case corev1.NodeHostName, corev1.NodeInternalDNS, corev1.NodeInternalIP, corev1.NodeExternalDNS, corev1.NodeExternalIP:
		default:
			errs = append(errs, fmt.Errorf("--kubelet-preferred-address-types: %q is not one of Hostname, InternalDNS, InternalIP, ExternalDNS, ExternalIP", t))
		}
	}
	if _, err := labels.Parse(o.NodeSelector); err != nil {
		errs = append(errs, fmt.Errorf("--node-selector: %w", err))
	}
	if _, err := labels.Parse(o.Agents.Selector); err != nil {
		errs = append(errs, fmt.Errorf("--agent-selector: %w", err))
	}
	if (o.Custom.PrometheusURL == "") != (o.Custom.ConfigFile == "") {
		errs = append(errs, errors.New("--prometheus-url and --custom-metrics-config go together"))
	}
	if o.Custom.PrometheusURL != "" && o.Custom.RelistInterval <= 0 {
		errs = append(errs, errors.New("--metrics-relist-interval must be positive"))
	}
	errs = append(errs, o.SecureServing.Validate()...)
	errs = append(errs, o.Authentication.Validate()...)
	errs = append(errs, o.Authorization.Validate()...)
	return errors.Join(errs...)
}

// restConfig is the client configuration for the API server.
func (o *Options) restConfig() (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	if o.Kubeconfig != "" {
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: o.Kubeconfig}, &clientcmd.ConfigOverrides{}).ClientConfig()
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("client configuration for the Kubernetes API (--kubeconfig, or in-cluster): %w", err)
	}
	cfg.UserAgent = "panoptes-metrics-api/" + version.Get().Version
	return cfg, nil
}

// kubeletTransport is the rest config's transport (its credentials, and its
// CA as the default trust for kubelet serving certificates) with the
// --kubelet-* TLS overrides, as metrics-server builds it.
func (o *Options) kubeletTransport(cfg *rest.Config) (http.RoundTripper, error) {
	k := rest.CopyConfig(cfg)
	if o.Kubelet.InsecureTLS {
		k.Insecure = true
		k.CAData, k.CAFile = nil, ""
	}
	if o.Kubelet.CAFile != "" {
		k.CAFile, k.CAData = o.Kubelet.CAFile, nil
	}
	if o.Kubelet.ClientCertFile != "" {
		k.CertFile, k.CertData = o.Kubelet.ClientCertFile, nil
		k.KeyFile, k.KeyData = o.Kubelet.ClientKeyFile, nil
	}
	rt, err := rest.TransportFor(k)
	if err != nil {
		return nil, fmt.Errorf("transport to the kubelets: %w", err)
	}
	return rt, nil
}

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
	// With --kubeconfig and no separate authentication/authorization
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
	defs := generatedopenapi.GetOpenAPIDefinitions
	namer := openapinamer.NewDefinitionNamer(api.Scheme)
	if o.Custom.PrometheusURL != "" {
		defs = func(ref openapicommon.ReferenceCallback) map[string]openapicommon.OpenAPIDefinition {
			m := generatedopenapi.GetOpenAPIDefinitions(ref)
			for _, more := range []openapicommon.GetOpenAPIDefinitions{cmcoreopenapi.GetOpenAPIDefinitions, cmcustomopenapi.GetOpenAPIDefinitions, cmexternalopenapi.GetOpenAPIDefinitions} {
				for k, d := range more(ref) {
					m[k] = d
				}
			}
			return m
		}
		namer = openapinamer.NewDefinitionNamer(api.Scheme, cmapiserver.Scheme)
	}
	cfg.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(defs, namer)
	cfg.OpenAPIConfig.Info.Title, cfg.OpenAPIConfig.Info.Version = "Panoptes metrics API", v
	cfg.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(defs, namer)
	cfg.OpenAPIV3Config.Info.Title, cfg.OpenAPIV3Config.Info.Version = "Panoptes metrics API", v
	cfg.EffectiveVersion = utilcompatibility.DefaultBuildEffectiveVersion()
	// Our /metrics serves the apiserver's metrics and ours together.
	cfg.EnableMetrics = false

	s := &Server{logger: logger, reg: prometheus.NewRegistry()}
	var generic *genericapiserver.GenericAPIServer
	if o.Custom.PrometheusURL == "" {
		generic, err = cfg.Complete(nil).New("panoptes-metrics-api", genericapiserver.NewEmptyDelegate())
	} else {
		// custom-metrics-apiserver builds the server with the custom and
		// external groups; metrics.k8s.io is installed beside them below.
		var prov *custom.Provider
		if prov, err = newCustomProvider(&o.Custom, restCfg, logger); err != nil {
			return nil, err
		}
		var cm *cmapiserver.CustomMetricsAdapterServer
		cm, err = (&cmapiserver.Config{GenericConfig: cfg}).Complete(nil).New("panoptes-metrics-api", prov, prov)
		if cm != nil {
			generic = cm.GenericAPIServer
		}
		interval := o.Custom.RelistInterval
		s.run = append(s.run, func(ctx context.Context) { prov.Run(ctx, interval) })
	}
	if err != nil {
		return nil, fmt.Errorf("build the API server: %w", err)
	}
	s.generic = generic

	protoCfg := rest.CopyConfig(restCfg)
	protoCfg.ContentType = "application/vnd.kubernetes.protobuf"
	client, err := kubernetes.NewForConfig(protoCfg)
	if err != nil {
		return nil, fmt.Errorf("client for the Kubernetes API: %w", err)
	}
	mdClient, err := metadata.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("metadata client for the Kubernetes API: %w", err)
	}
	// go_* and process_* come from k8s.io/component-base's legacy registry,
	// served beside ours.

	factory := informers.NewSharedInformerFactory(client, 0)
	nodeInf := factory.Core().V1().Nodes()
	if err := nodeInf.Informer().SetTransform(slimNode); err != nil {
		return nil, fmt.Errorf("node informer: %w", err)
	}
	// Only running pods have usage, as in metrics-server; their metadata is
	// all the API needs (names and labels).
	podFactory := metadatainformer.NewFilteredSharedInformerFactory(mdClient, 0, corev1.NamespaceAll, func(lo *metav1.ListOptions) {
		lo.FieldSelector = "status.phase=Running"
	})
	podInf := podFactory.ForResource(corev1.SchemeGroupVersion.WithResource("pods"))
	if err := podInf.Informer().SetTransform(slimPodMetadata); err != nil {
		return nil, fmt.Errorf("pod informer: %w", err)
	}
	s.start = append(s.start, factory.Start, podFactory.Start)
	s.synced = append(s.synced, nodeInf.Informer().HasSynced, podInf.Informer().HasSynced)

	nodeSel, _ := labels.Parse(o.NodeSelector)
	var nodeReqs []labels.Requirement
	if o.NodeSelector != "" {
		nodeReqs, _ = nodeSel.Requirements()
	}

	var src targetSource
	switch o.Source {
	case SourceAgents:
		agentFactory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(o.Agents.Namespace),
			informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = o.Agents.Selector }))
		agentInf := agentFactory.Core().V1().Pods()
		s.start = append(s.start, agentFactory.Start)
		s.synced = append(s.synced, agentInf.Informer().HasSynced)
		sel, _ := labels.Parse(o.Agents.Selector)
		src = &agentTargets{pods: agentInf.Lister(), selector: sel, port: o.Agents.Port, path: "/metrics/resource"}
	default:
		types := make([]corev1.NodeAddressType, len(o.Kubelet.PreferredAddressTypes))
		for i, t := range o.Kubelet.PreferredAddressTypes {
			types[i] = corev1.NodeAddressType(t)
		}
		src = &kubeletTargets{nodes: nodeInf.Lister(), selector: nodeSel, addressTypes: types, port: o.Kubelet.Port,
			useNodeStatusPort: o.Kubelet.UseNodeStatusPort, path: "/metrics/resource"}
	}

	rt, err := o.kubeletTransport(restCfg)
	if err != nil {
		return nil, err
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
	s.store = NewStore(o.MetricResolution, logger)
	s.collector = newCollector(CollectorConfig{
		Resolution:  o.MetricResolution,
		Timeout:     o.Kubelet.RequestTimeout,
		Concurrency: o.Concurrency,
	}, src, &http.Client{Transport: rt}, s.store, s.reg, func() string { return identity.Load().(string) }, logger)

	if err := api.Install(s.store, podInf.Lister(), nodeInf.Lister(), generic, nodeReqs); err != nil {
		return nil, fmt.Errorf("install metrics.k8s.io: %w", err)
	}

	// The apiserver's request metrics (apiserver_request_total, ...), as
	// metrics-server registers them.
	apimetrics.Register()
	gatherers := prometheus.Gatherers{legacyregistry.DefaultGatherer, s.reg}
	generic.Handler.NonGoRestfulMux.Handle("/metrics", promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{}))

	resolution := o.MetricResolution
	if err := generic.AddReadyzChecks(
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
		return nil, err
	}
	if err := generic.AddLivezChecks(0, healthz.NamedCheck("metric-collection-timely", func(*http.Request) error {
		start, end := s.collector.LastCycle()
		if !start.IsZero() && end.Before(start) && time.Since(start) > resolution*3/2 {
			return fmt.Errorf("the collection cycle started %s ago has not finished", time.Since(start).Round(time.Second))
		}
		return nil
	})); err != nil {
		return nil, err
	}
	return s, nil
}

// Run starts the informers, the collection loop and the secure server, and
// blocks until ctx ends.
func (s *Server) Run(ctx context.Context) error {
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
		return nil, fmt.Errorf("--prometheus-url: %w", err)
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
