package monitors

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The types below are the fields of prometheus-operator's
// monitoring.coreos.com/v1 API that the conversion reads, under the same
// JSON names; unknown fields are ignored, as the operator's own decoding
// does. They are local so that the server does not take the operator's
// module (and its dependencies) for a few structs.

// ServiceMonitor is a monitoring.coreos.com/v1 ServiceMonitor.
type ServiceMonitor struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta  `json:"metadata"`
	Spec            ServiceMonitorSpec `json:"spec"`
}

// ServiceMonitorSpec selects Services and says how their endpoints are
// scraped.
type ServiceMonitorSpec struct {
	JobLabel          string               `json:"jobLabel,omitempty"`
	TargetLabels      []string             `json:"targetLabels,omitempty"`
	PodTargetLabels   []string             `json:"podTargetLabels,omitempty"`
	Endpoints         []Endpoint           `json:"endpoints"`
	Selector          metav1.LabelSelector `json:"selector"`
	NamespaceSelector NamespaceSelector    `json:"namespaceSelector,omitempty"`
	AttachMetadata    *AttachMetadata      `json:"attachMetadata,omitempty"`
	Limits            `json:",inline"`
}

// Limits are the per-scrape limits; nil leaves the global ones.
type Limits struct {
	SampleLimit           *uint64 `json:"sampleLimit,omitempty"`
	TargetLimit           *uint64 `json:"targetLimit,omitempty"`
	LabelLimit            *uint64 `json:"labelLimit,omitempty"`
	LabelNameLengthLimit  *uint64 `json:"labelNameLengthLimit,omitempty"`
	LabelValueLengthLimit *uint64 `json:"labelValueLengthLimit,omitempty"`
	KeepDroppedTargets    *uint64 `json:"keepDroppedTargets,omitempty"`
}

// Endpoint is one scraped port of a ServiceMonitor's Services.
type Endpoint struct {
	Port                     string              `json:"port,omitempty"`
	TargetPort               *intstr.IntOrString `json:"targetPort,omitempty"`
	HTTP                     `json:",inline"`
	TLSConfig                *TLSConfig `json:"tlsConfig,omitempty"`
	BearerTokenFile          string     `json:"bearerTokenFile,omitempty"`
	HonorLabels              bool       `json:"honorLabels,omitempty"`
	HonorTimestamps          *bool      `json:"honorTimestamps,omitempty"`
	TrackTimestampsStaleness *bool      `json:"trackTimestampsStaleness,omitempty"`
	FilterRunning            *bool      `json:"filterRunning,omitempty"`
}

// HTTP are the fields an Endpoint and a PodMetricsEndpoint share.
type HTTP struct {
	Path                 string              `json:"path,omitempty"`
	Scheme               string              `json:"scheme,omitempty"`
	Params               map[string][]string `json:"params,omitempty"`
	Interval             string              `json:"interval,omitempty"`
	ScrapeTimeout        string              `json:"scrapeTimeout,omitempty"`
	ProxyURL             *string             `json:"proxyUrl,omitempty"`
	FollowRedirects      *bool               `json:"followRedirects,omitempty"`
	EnableHTTP2          *bool               `json:"enableHttp2,omitempty"`
	BearerTokenSecret    *SecretKeySelector  `json:"bearerTokenSecret,omitempty"`
	Authorization        *SafeAuthorization  `json:"authorization,omitempty"`
	BasicAuth            *BasicAuth          `json:"basicAuth,omitempty"`
	RelabelConfigs       []RelabelConfig     `json:"relabelings,omitempty"`
	MetricRelabelConfigs []RelabelConfig     `json:"metricRelabelings,omitempty"`
}

// PodMonitor is a monitoring.coreos.com/v1 PodMonitor.
type PodMonitor struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            PodMonitorSpec    `json:"spec"`
}

// PodMonitorSpec selects Pods and says how their ports are scraped.
type PodMonitorSpec struct {
	JobLabel            string               `json:"jobLabel,omitempty"`
	PodTargetLabels     []string             `json:"podTargetLabels,omitempty"`
	PodMetricsEndpoints []PodMetricsEndpoint `json:"podMetricsEndpoints"`
	Selector            metav1.LabelSelector `json:"selector"`
	NamespaceSelector   NamespaceSelector    `json:"namespaceSelector,omitempty"`
	AttachMetadata      *AttachMetadata      `json:"attachMetadata,omitempty"`
	Limits              `json:",inline"`
}

// PodMetricsEndpoint is one scraped container port of a PodMonitor's Pods.
type PodMetricsEndpoint struct {
	Port                     string              `json:"port,omitempty"`
	TargetPort               *intstr.IntOrString `json:"targetPort,omitempty"`
	HTTP                     `json:",inline"`
	TLSConfig                *SafeTLSConfig `json:"tlsConfig,omitempty"`
	HonorLabels              bool           `json:"honorLabels,omitempty"`
	HonorTimestamps          *bool          `json:"honorTimestamps,omitempty"`
	TrackTimestampsStaleness *bool          `json:"trackTimestampsStaleness,omitempty"`
	FilterRunning            *bool          `json:"filterRunning,omitempty"`
}

// Probe is a monitoring.coreos.com/v1 Probe.
type Probe struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            ProbeSpec         `json:"spec"`
}

// ProbeSpec is a prober (the blackbox exporter, usually) and the targets
// it probes.
type ProbeSpec struct {
	JobName              string             `json:"jobName,omitempty"`
	ProberSpec           ProberSpec         `json:"prober"`
	Module               string             `json:"module,omitempty"`
	Targets              ProbeTargets       `json:"targets"`
	Interval             string             `json:"interval,omitempty"`
	ScrapeTimeout        string             `json:"scrapeTimeout,omitempty"`
	TLSConfig            *SafeTLSConfig     `json:"tlsConfig,omitempty"`
	BearerTokenSecret    *SecretKeySelector `json:"bearerTokenSecret,omitempty"`
	BasicAuth            *BasicAuth         `json:"basicAuth,omitempty"`
	Authorization        *SafeAuthorization `json:"authorization,omitempty"`
	MetricRelabelConfigs []RelabelConfig    `json:"metricRelabelings,omitempty"`
	Limits               `json:",inline"`
}

// ProberSpec is where the prober answers.
type ProberSpec struct {
	URL      string `json:"url"`
	Scheme   string `json:"scheme,omitempty"`
	Path     string `json:"path,omitempty"`
	ProxyURL string `json:"proxyUrl,omitempty"`
}

// ProbeTargets are a Probe's targets: static ones only here (ingress
// targets are reported as not supported).
type ProbeTargets struct {
	StaticConfig *ProbeTargetStaticConfig `json:"staticConfig,omitempty"`
	Ingress      map[string]any           `json:"ingress,omitempty"`
}

// ProbeTargetStaticConfig is a static list of probed targets.
type ProbeTargetStaticConfig struct {
	Targets        []string          `json:"static,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
	RelabelConfigs []RelabelConfig   `json:"relabelingConfigs,omitempty"`
}

// NamespaceSelector is where a monitor's targets are looked for: any
// namespace, the listed ones, or (neither) the monitor's own.
type NamespaceSelector struct {
	Any        bool     `json:"any,omitempty"`
	MatchNames []string `json:"matchNames,omitempty"`
}

// AttachMetadata adds the node's metadata to the targets.
type AttachMetadata struct {
	Node *bool `json:"node,omitempty"`
}

// RelabelConfig is a relabelling rule in the operator's camel case.
type RelabelConfig struct {
	SourceLabels []string `json:"sourceLabels,omitempty"`
	Separator    *string  `json:"separator,omitempty"`
	TargetLabel  string   `json:"targetLabel,omitempty"`
	Regex        string   `json:"regex,omitempty"`
	Modulus      uint64   `json:"modulus,omitempty"`
	Replacement  *string  `json:"replacement,omitempty"`
	Action       string   `json:"action,omitempty"`
}

// SecretKeySelector is a key of a Secret in the monitor's namespace.
type SecretKeySelector struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// ConfigMapKeySelector is a key of a ConfigMap in the monitor's namespace.
type ConfigMapKeySelector struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// SecretOrConfigMap is a value from either.
type SecretOrConfigMap struct {
	Secret    *SecretKeySelector    `json:"secret,omitempty"`
	ConfigMap *ConfigMapKeySelector `json:"configMap,omitempty"`
}

// SafeTLSConfig is TLS from Secrets and ConfigMaps.
type SafeTLSConfig struct {
	CA                 SecretOrConfigMap  `json:"ca,omitempty"`
	Cert               SecretOrConfigMap  `json:"cert,omitempty"`
	KeySecret          *SecretKeySelector `json:"keySecret,omitempty"`
	ServerName         *string            `json:"serverName,omitempty"`
	InsecureSkipVerify *bool              `json:"insecureSkipVerify,omitempty"`
	MinVersion         *string            `json:"minVersion,omitempty"`
	MaxVersion         *string            `json:"maxVersion,omitempty"`
}

// TLSConfig adds files on the server's disk to SafeTLSConfig.
type TLSConfig struct {
	SafeTLSConfig `json:",inline"`
	CAFile        string `json:"caFile,omitempty"`
	CertFile      string `json:"certFile,omitempty"`
	KeyFile       string `json:"keyFile,omitempty"`
}

// SafeAuthorization is an Authorization header whose credentials are in
// a Secret.
type SafeAuthorization struct {
	Type        string             `json:"type,omitempty"`
	Credentials *SecretKeySelector `json:"credentials,omitempty"`
}

// BasicAuth is a username and password from Secrets.
type BasicAuth struct {
	Username SecretKeySelector `json:"username"`
	Password SecretKeySelector `json:"password"`
}
