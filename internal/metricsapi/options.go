package metricsapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/panoptes-dev/panoptes/internal/option"
	"github.com/panoptes-dev/panoptes/internal/version"
)

// Sources of node usage (Options.Source).
const (
	SourceKubelet = "kubelet"
	SourceAgents  = "agents"
)

// Options configure the API server; cmd/panoptes binds them to
// metrics-server's flags. The apiserver option structs are
// k8s.io/apiserver's, whose flags (and errors) carry their own names.
type Options struct {
	SecureServing  *genericoptions.SecureServingOptionsWithLoopback
	Authentication *genericoptions.DelegatingAuthenticationOptions
	Authorization  *genericoptions.DelegatingAuthorizationOptions

	// Kubeconfig is used for the API server (informers) and, with its
	// credentials and CA, for the kubelets; empty means in-cluster.
	Kubeconfig string
	// MetricResolution is the time between collections; at least 10s.
	MetricResolution time.Duration
	Kubelet          KubeletOptions
	// Source is SourceKubelet or SourceAgents.
	Source string
	Agents AgentOptions
	// NodeSelector is a label selector: only the nodes it matches are
	// collected from and served. Empty: every node.
	NodeSelector string
	// Concurrency bounds the nodes scraped at once.
	Concurrency int

	// Custom, when its PrometheusURL is set, also serves
	// custom.metrics.k8s.io and external.metrics.k8s.io.
	Custom CustomOptions
}

// KubeletOptions say how kubelets (or agents) are reached; the names follow
// metrics-server's flags.
type KubeletOptions struct {
	// InsecureTLS skips the verification of the kubelets' serving
	// certificates (tests only). Refused with SourceAgents: the credentials
	// would go to whatever answers on a pod IP.
	InsecureTLS bool
	// UseNodeStatusPort takes the port from the node's status
	// (daemonEndpoints.kubeletEndpoint.port) instead of Port.
	UseNodeStatusPort bool
	Port              int
	// PreferredAddressTypes are node address types (Hostname, InternalIP,
	// ...), in order of preference.
	PreferredAddressTypes []string
	// CAFile verifies the kubelets' serving certificates; empty: the
	// cluster CA of the client configuration. With SourceAgents it verifies
	// the agents' and is required: they are not the kubelets, and the
	// cluster CA does not sign their certificates.
	CAFile string
	// ClientCertFile and ClientKeyFile go together; empty: the client
	// configuration's credentials (the service account token).
	ClientCertFile string
	ClientKeyFile  string
	// RequestTimeout bounds one node's scrape; under 90% of
	// MetricResolution.
	RequestTimeout time.Duration
}

// AgentOptions say where the agents are with Source SourceAgents.
type AgentOptions struct {
	// Namespace of the agent pods; required with SourceAgents. Pods
	// elsewhere are never contacted, whatever their labels: anyone who can
	// create a pod in some namespace could otherwise label it as an agent
	// and be sent this server's credentials.
	Namespace string
	// Selector is the label selector of the agent pods.
	Selector string
	// Port is the agents' kubelet-shaped endpoint's port.
	Port int
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
		Custom:      CustomOptions{RelistInterval: time.Minute},
	}
	o.SecureServing.BindPort = 4443
	o.SecureServing.ServerCert.CertDirectory = "apiserver.local.config/certificates"
	return o
}

// Validate reports contradicting or out-of-range options, each as an
// *option.Error naming its Options field (the apiserver structs' errors
// name their flags).
func (o *Options) Validate() error {
	var errs []error
	invalid := func(field, format string, args ...any) {
		errs = append(errs, option.Invalid(field, format, args...))
	}
	if o.MetricResolution < 10*time.Second {
		invalid("MetricResolution", "%v: must be at least 10s (the kubelet refreshes its stats every 10s)", o.MetricResolution)
	}
	if o.Kubelet.RequestTimeout <= 0 {
		invalid("Kubelet.RequestTimeout", "must be positive")
	} else if o.MetricResolution*9/10 < o.Kubelet.RequestTimeout {
		invalid("Kubelet.RequestTimeout", "%v: must be under 90%% of MetricResolution (%v)", o.Kubelet.RequestTimeout, o.MetricResolution)
	}
	if o.Kubelet.CAFile != "" && o.Kubelet.InsecureTLS {
		invalid("Kubelet.CAFile", "contradicts Kubelet.InsecureTLS (a CA to verify with, and no verification)")
	}
	if (o.Kubelet.ClientCertFile == "") != (o.Kubelet.ClientKeyFile == "") {
		invalid("Kubelet.ClientCertFile", "goes together with Kubelet.ClientKeyFile")
	}
	if o.Source != SourceKubelet && o.Source != SourceAgents {
		invalid("Source", "%q: must be %s or %s", o.Source, SourceKubelet, SourceAgents)
	}
	if o.Source == SourceAgents {
		errs = append(errs, o.validateAgents()...)
	}
	if o.Concurrency < 1 {
		invalid("Concurrency", "%d: must be at least 1", o.Concurrency)
	}
	for _, t := range o.Kubelet.PreferredAddressTypes {
		switch corev1.NodeAddressType(t) {
		case corev1.NodeHostName, corev1.NodeInternalDNS, corev1.NodeInternalIP, corev1.NodeExternalDNS, corev1.NodeExternalIP:
		default:
			invalid("Kubelet.PreferredAddressTypes", "%q is not one of Hostname, InternalDNS, InternalIP, ExternalDNS, ExternalIP", t)
		}
	}
	if _, err := labels.Parse(o.NodeSelector); err != nil {
		invalid("NodeSelector", "%w", err)
	}
	if _, err := labels.Parse(o.Agents.Selector); err != nil {
		invalid("Agents.Selector", "%w", err)
	}
	if (o.Custom.PrometheusURL == "") != (o.Custom.ConfigFile == "") {
		invalid("Custom.PrometheusURL", "goes together with Custom.ConfigFile")
	}
	if o.Custom.PrometheusURL != "" && o.Custom.RelistInterval <= 0 {
		invalid("Custom.RelistInterval", "must be positive")
	}
	errs = append(errs, o.SecureServing.Validate()...)
	errs = append(errs, o.Authentication.Validate()...)
	errs = append(errs, o.Authorization.Validate()...)
	return errors.Join(errs...)
}

// validateAgents checks what SourceAgents needs to send credentials only to
// the agents: their namespace, and a CA to verify them with.
func (o *Options) validateAgents() []error {
	var errs []error
	if o.Agents.Namespace == "" {
		errs = append(errs, option.Invalid("Agents.Namespace", "required with Source=agents: the namespace of the agent DaemonSet (monitoring in deploy/agent); agents are looked for only there"))
	}
	if o.Kubelet.InsecureTLS {
		errs = append(errs, option.Invalid("Kubelet.InsecureTLS", "refused with Source=agents: it would send this server's credentials to whatever answers on an agent pod's IP; give Kubelet.CAFile the CA that signs the agents' serving certificates (deploy/metrics-api-agents)"))
	} else if o.Kubelet.CAFile == "" {
		errs = append(errs, option.Invalid("Kubelet.CAFile", "required with Source=agents: the CA that signs the agents' serving certificates (deploy/metrics-api-agents); the cluster CA does not sign them, and credentials are sent only to an agent whose certificate it verifies"))
	}
	return errs
}

// restConfig is the client configuration for the API server.
func (o *Options) restConfig() (*rest.Config, error) {
	var cfg *rest.Config
	if o.Kubeconfig != "" {
		var err error
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: o.Kubeconfig}, &clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			return nil, option.Invalid("Kubeconfig", "client configuration for the Kubernetes API: %w", err)
		}
	} else {
		var err error
		if cfg, err = rest.InClusterConfig(); err != nil {
			return nil, fmt.Errorf("client configuration for the Kubernetes API (in-cluster, as no Kubeconfig is given): %w", err)
		}
	}
	cfg.UserAgent = "panoptes-metrics-api/" + version.Get().Version
	return cfg, nil
}

// kubeletTransport is the rest config's transport (its credentials, and its
// CA as the default trust for kubelet serving certificates) with the
// Kubelet TLS overrides, as metrics-server builds it.
func (o *Options) kubeletTransport(cfg *rest.Config) (http.RoundTripper, error) {
	k := rest.CopyConfig(cfg)
	// The API server's name (a kubeconfig's tls-server-name) is no
	// kubelet's: each target is verified for the address it is reached on.
	k.ServerName = ""
	// Only --kubelet-insecure-tls skips the verification, not a kubeconfig
	// that skips it for the API server.
	k.Insecure = o.Kubelet.InsecureTLS
	if o.Kubelet.InsecureTLS {
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
