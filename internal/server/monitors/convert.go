package monitors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/config"
	// The generated jobs use Kubernetes discovery: its config type must be
	// registered to parse them.
	_ "github.com/prometheus/prometheus/discovery/kubernetes"
	yamlv2 "go.yaml.in/yaml/v2"
	"go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Kubernetes service discovery roles for the ServiceMonitors' jobs.
const (
	// RoleEndpointSlice discovers discovery.k8s.io/v1 EndpointSlices, the
	// default: the v1 Endpoints API is deprecated.
	RoleEndpointSlice = "endpointslice"
	// RoleEndpoints discovers v1 Endpoints, as prometheus-operator does
	// unless its serviceDiscoveryRole is EndpointSlice.
	RoleEndpoints = "endpoints"
)

// Kinds of the objects converted.
const (
	KindServiceMonitor = "ServiceMonitor"
	KindPodMonitor     = "PodMonitor"
	KindProbe          = "Probe"
)

// Refs reads the keys of the Secrets and ConfigMaps that a monitor names
// (for TLS and credentials), in the monitor's namespace.
type Refs interface {
	SecretKey(namespace string, sel SecretKeySelector) (string, error)
	ConfigMapKey(namespace string, sel ConfigMapKeySelector) (string, error)
}

// Generator turns monitors into Prometheus scrape configs as
// prometheus-operator's config generator does for a Prometheus object
// with one shard and no enforced limits or namespace label.
type Generator struct {
	// Role is the service discovery role of ServiceMonitors' jobs:
	// RoleEndpointSlice (when empty) or RoleEndpoints.
	Role string
	// Kubeconfig, when not empty, is written as the kubernetes_sd_configs'
	// kubeconfig_file (an absolute path); empty means in-cluster.
	Kubeconfig string
	// Refs reads Secrets and ConfigMaps; nil makes a reference an error.
	Refs Refs
}

// Convert returns the scrape configs (a YAML list, in the operator's key
// order) of one object of kind KindServiceMonitor, KindPodMonitor or
// KindProbe, as the dynamic client hands it over. The list has been parsed
// with Prometheus's own config types, so a bad regex, duration or action
// is an error here, naming the field.
func (g *Generator) Convert(kind string, obj map[string]any) ([]byte, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", kind, err)
	}
	var jobs []mapSlice
	switch kind {
	case KindServiceMonitor:
		var m ServiceMonitor
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("decode ServiceMonitor: %w", err)
		}
		jobs, err = g.serviceMonitor(&m)
	case KindPodMonitor:
		var m PodMonitor
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("decode PodMonitor: %w", err)
		}
		jobs, err = g.podMonitor(&m)
	case KindProbe:
		var m Probe
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("decode Probe: %w", err)
		}
		var job mapSlice
		job, err = g.probe(&m)
		jobs = []mapSlice{job}
	default:
		return nil, fmt.Errorf("BUG: unknown kind %q", kind)
	}
	if err != nil {
		return nil, err
	}
	if len(jobs) == 0 {
		return []byte("[]\n"), nil
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(jobs); err != nil {
		return nil, fmt.Errorf("encode scrape configs: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode scrape configs: %w", err)
	}
	if _, err := ParseScrapeConfigs(buf.Bytes()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ParseScrapeConfigs parses a YAML list of scrape configs with
// Prometheus's types (strictly: an unknown key is an error). The configs
// still need ScrapeConfig.Validate with the global config.
func ParseScrapeConfigs(b []byte) ([]*config.ScrapeConfig, error) {
	var scs []*config.ScrapeConfig
	if err := yamlv2.UnmarshalStrict(b, &scs); err != nil {
		return nil, fmt.Errorf("generated scrape config: %w", err)
	}
	for _, sc := range scs {
		if sc == nil {
			return nil, errors.New("generated scrape config: empty scrape config")
		}
	}
	return scs, nil
}

func (g *Generator) role() string {
	if g.Role == RoleEndpoints {
		return RoleEndpoints
	}
	return RoleEndpointSlice
}

func (g *Generator) serviceMonitor(m *ServiceMonitor) ([]mapSlice, error) {
	ns := m.Metadata.Namespace
	role := g.role()
	sel, err := selectorRelabelings(m.Spec.Selector, "service")
	if err != nil {
		return nil, err
	}
	var jobs []mapSlice
	for i, ep := range m.Spec.Endpoints {
		field := fmt.Sprintf("spec.endpoints[%d]", i)
		cfg := mapSlice{{"job_name", fmt.Sprintf("serviceMonitor/%s/%s/%d", ns, m.Metadata.Name, i)}}
		cfg = append(cfg, item{"honor_labels", ep.HonorLabels})
		cfg = addOpt(cfg, "honor_timestamps", ep.HonorTimestamps)
		cfg = addOpt(cfg, "track_timestamps_staleness", ep.TrackTimestampsStaleness)
		cfg = append(cfg, g.sdConfig(role, m.Spec.NamespaceSelector, ns, m.Spec.AttachMetadata))
		cfg = addHTTP(cfg, &ep.HTTP)
		tls, err := g.tlsConfig(ns, ep.TLSConfig)
		if err != nil {
			return nil, fmt.Errorf("%s.tlsConfig: %w", field, err)
		}
		if tls != nil {
			cfg = append(cfg, item{"tls_config", tls})
		}
		if ep.BearerTokenFile != "" {
			cfg = append(cfg, item{"bearer_token_file", ep.BearerTokenFile})
		}
		if cfg, err = g.addAuth(cfg, ns, &ep.HTTP); err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}

		rl := initRelabelings()
		rl = append(rl, sel...)
		switch {
		case ep.Port != "":
			rl = append(rl, mapSlice{{"action", "keep"}, {"source_labels", []string{"__meta_kubernetes_" + sdPrefix(role) + "_port_name"}}, {"regex", ep.Port}})
		case ep.TargetPort != nil && ep.TargetPort.StrVal != "":
			rl = append(rl, mapSlice{{"action", "keep"}, {"source_labels", []string{"__meta_kubernetes_pod_container_port_name"}}, {"regex", ep.TargetPort.String()}})
		case ep.TargetPort != nil && ep.TargetPort.IntVal != 0:
			rl = append(rl, mapSlice{{"action", "keep"}, {"source_labels", []string{"__meta_kubernetes_pod_container_port_number"}}, {"regex", ep.TargetPort.String()}})
		}
		target := []string{"__meta_kubernetes_" + sdPrefix(role) + "_address_target_kind", "__meta_kubernetes_" + sdPrefix(role) + "_address_target_name"}
		rl = append(rl,
			mapSlice{{"source_labels", target}, {"separator", ";"}, {"regex", "Node;(.*)"}, {"replacement", "${1}"}, {"target_label", "node"}},
			mapSlice{{"source_labels", target}, {"separator", ";"}, {"regex", "Pod;(.*)"}, {"replacement", "${1}"}, {"target_label", "pod"}},
			copyLabel("__meta_kubernetes_namespace", "namespace"),
			copyLabel("__meta_kubernetes_service_name", "service"),
			copyLabel("__meta_kubernetes_pod_name", "pod"),
			copyLabel("__meta_kubernetes_pod_container_name", "container"),
		)
		if ep.FilterRunning == nil || *ep.FilterRunning {
			rl = append(rl, runningFilter())
		}
		for _, l := range m.Spec.TargetLabels {
			rl = append(rl, fromLabel("__meta_kubernetes_service_label_"+sanitizeLabelName(l), sanitizeLabelName(l)))
		}
		for _, l := range m.Spec.PodTargetLabels {
			rl = append(rl, fromLabel("__meta_kubernetes_pod_label_"+sanitizeLabelName(l), sanitizeLabelName(l)))
		}
		rl = append(rl, mapSlice{{"source_labels", []string{"__meta_kubernetes_service_name"}}, {"target_label", "job"}, {"replacement", "${1}"}})
		if m.Spec.JobLabel != "" {
			rl = append(rl, fromLabel("__meta_kubernetes_service_label_"+sanitizeLabelName(m.Spec.JobLabel), "job"))
		}
		switch {
		case ep.Port != "":
			rl = append(rl, mapSlice{{"target_label", "endpoint"}, {"replacement", ep.Port}})
		case ep.TargetPort != nil && ep.TargetPort.String() != "":
			rl = append(rl, mapSlice{{"target_label", "endpoint"}, {"replacement", ep.TargetPort.String()}})
		}
		rl = append(rl, relabelings(ep.RelabelConfigs)...)
		cfg = append(cfg, item{"relabel_configs", rl})
		cfg = addLimits(cfg, &m.Spec.Limits)
		if len(ep.MetricRelabelConfigs) > 0 {
			cfg = append(cfg, item{"metric_relabel_configs", relabelings(ep.MetricRelabelConfigs)})
		}
		jobs = append(jobs, cfg)
	}
	return jobs, nil
}

func (g *Generator) podMonitor(m *PodMonitor) ([]mapSlice, error) {
	ns := m.Metadata.Namespace
	sel, err := selectorRelabelings(m.Spec.Selector, "pod")
	if err != nil {
		return nil, err
	}
	var jobs []mapSlice
	for i, ep := range m.Spec.PodMetricsEndpoints {
		field := fmt.Sprintf("spec.podMetricsEndpoints[%d]", i)
		cfg := mapSlice{{"job_name", fmt.Sprintf("podMonitor/%s/%s/%d", ns, m.Metadata.Name, i)}}
		cfg = append(cfg, item{"honor_labels", ep.HonorLabels})
		cfg = addOpt(cfg, "honor_timestamps", ep.HonorTimestamps)
		cfg = addOpt(cfg, "track_timestamps_staleness", ep.TrackTimestampsStaleness)
		cfg = append(cfg, g.sdConfig("pod", m.Spec.NamespaceSelector, ns, m.Spec.AttachMetadata))
		cfg = addHTTP(cfg, &ep.HTTP)
		var tlsIn *TLSConfig
		if ep.TLSConfig != nil {
			tlsIn = &TLSConfig{SafeTLSConfig: *ep.TLSConfig}
		}
		tls, err := g.tlsConfig(ns, tlsIn)
		if err != nil {
			return nil, fmt.Errorf("%s.tlsConfig: %w", field, err)
		}
		if tls != nil {
			cfg = append(cfg, item{"tls_config", tls})
		}
		if cfg, err = g.addAuth(cfg, ns, &ep.HTTP); err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}

		rl := initRelabelings()
		if ep.FilterRunning == nil || *ep.FilterRunning {
			rl = append(rl, runningFilter())
		}
		rl = append(rl, sel...)
		switch {
		case ep.Port != "":
			rl = append(rl, mapSlice{{"action", "keep"}, {"source_labels", []string{"__meta_kubernetes_pod_container_port_name"}}, {"regex", ep.Port}})
		case ep.TargetPort != nil && ep.TargetPort.StrVal != "":
			rl = append(rl, mapSlice{{"action", "keep"}, {"source_labels", []string{"__meta_kubernetes_pod_container_port_name"}}, {"regex", ep.TargetPort.String()}})
		case ep.TargetPort != nil && ep.TargetPort.IntVal != 0:
			rl = append(rl, mapSlice{{"action", "keep"}, {"source_labels", []string{"__meta_kubernetes_pod_container_port_number"}}, {"regex", ep.TargetPort.String()}})
		}
		rl = append(rl,
			copyLabel("__meta_kubernetes_namespace", "namespace"),
			copyLabel("__meta_kubernetes_pod_container_name", "container"),
			copyLabel("__meta_kubernetes_pod_name", "pod"),
		)
		for _, l := range m.Spec.PodTargetLabels {
			rl = append(rl, fromLabel("__meta_kubernetes_pod_label_"+sanitizeLabelName(l), sanitizeLabelName(l)))
		}
		rl = append(rl, mapSlice{{"target_label", "job"}, {"replacement", ns + "/" + m.Metadata.Name}})
		if m.Spec.JobLabel != "" {
			rl = append(rl, fromLabel("__meta_kubernetes_pod_label_"+sanitizeLabelName(m.Spec.JobLabel), "job"))
		}
		switch {
		case ep.Port != "":
			rl = append(rl, mapSlice{{"target_label", "endpoint"}, {"replacement", ep.Port}})
		case ep.TargetPort != nil && ep.TargetPort.String() != "":
			rl = append(rl, mapSlice{{"target_label", "endpoint"}, {"replacement", ep.TargetPort.String()}})
		}
		rl = append(rl, relabelings(ep.RelabelConfigs)...)
		cfg = append(cfg, item{"relabel_configs", rl})
		cfg = addLimits(cfg, &m.Spec.Limits)
		if len(ep.MetricRelabelConfigs) > 0 {
			cfg = append(cfg, item{"metric_relabel_configs", relabelings(ep.MetricRelabelConfigs)})
		}
		jobs = append(jobs, cfg)
	}
	return jobs, nil
}

func (g *Generator) probe(m *Probe) (mapSlice, error) {
	ns := m.Metadata.Namespace
	switch {
	case m.Spec.ProberSpec.URL == "":
		return nil, errors.New("spec.prober.url is empty")
	case m.Spec.Targets.StaticConfig == nil && m.Spec.Targets.Ingress != nil:
		return nil, errors.New("spec.targets.ingress is not supported (static targets only)")
	case m.Spec.Targets.StaticConfig == nil || len(m.Spec.Targets.StaticConfig.Targets) == 0:
		return nil, errors.New("spec.targets.staticConfig.static is empty")
	}
	path := m.Spec.ProberSpec.Path
	if path == "" {
		// The CRD's default.
		path = "/probe"
	}
	cfg := mapSlice{{"job_name", fmt.Sprintf("probe/%s/%s", ns, m.Metadata.Name)}}
	cfg = append(cfg, item{"honor_timestamps", true}, item{"metrics_path", path})
	if m.Spec.Interval != "" {
		cfg = append(cfg, item{"scrape_interval", m.Spec.Interval})
	}
	if m.Spec.ScrapeTimeout != "" {
		cfg = append(cfg, item{"scrape_timeout", m.Spec.ScrapeTimeout})
	}
	if m.Spec.ProberSpec.Scheme != "" {
		cfg = append(cfg, item{"scheme", m.Spec.ProberSpec.Scheme})
	}
	if m.Spec.ProberSpec.ProxyURL != "" {
		cfg = append(cfg, item{"proxy_url", m.Spec.ProberSpec.ProxyURL})
	}
	if m.Spec.Module != "" {
		cfg = append(cfg, item{"params", mapSlice{{"module", []string{m.Spec.Module}}}})
	}
	cfg = addLimits(cfg, &m.Spec.Limits)

	rl := initRelabelings()
	if m.Spec.JobName != "" {
		rl = append(rl, mapSlice{{"target_label", "job"}, {"replacement", m.Spec.JobName}})
	}
	sc := m.Spec.Targets.StaticConfig
	lbls := map[string]string{}
	for k, v := range sc.Labels {
		lbls[k] = v
	}
	if _, ok := lbls["namespace"]; !ok {
		lbls["namespace"] = ns
	}
	cfg = append(cfg, item{"static_configs", []mapSlice{{{"targets", sc.Targets}, {"labels", lbls}}}})
	rl = append(rl,
		mapSlice{{"source_labels", []string{"__address__"}}, {"target_label", "__param_target"}},
		mapSlice{{"source_labels", []string{"__param_target"}}, {"target_label", "instance"}},
		mapSlice{{"target_label", "__address__"}, {"replacement", m.Spec.ProberSpec.URL}},
	)
	rl = append(rl, relabelings(sc.RelabelConfigs)...)
	cfg = append(cfg, item{"relabel_configs", rl})

	tls, err := g.tlsConfig(ns, tlsOf(m.Spec.TLSConfig))
	if err != nil {
		return nil, fmt.Errorf("spec.tlsConfig: %w", err)
	}
	if tls != nil {
		cfg = append(cfg, item{"tls_config", tls})
	}
	auth := HTTP{BearerTokenSecret: m.Spec.BearerTokenSecret, BasicAuth: m.Spec.BasicAuth, Authorization: m.Spec.Authorization}
	if cfg, err = g.addAuth(cfg, ns, &auth); err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	if len(m.Spec.MetricRelabelConfigs) > 0 {
		cfg = append(cfg, item{"metric_relabel_configs", relabelings(m.Spec.MetricRelabelConfigs)})
	}
	return cfg, nil
}

func tlsOf(s *SafeTLSConfig) *TLSConfig {
	if s == nil {
		return nil
	}
	return &TLSConfig{SafeTLSConfig: *s}
}

// sdConfig is the kubernetes_sd_configs item of a job.
func (g *Generator) sdConfig(role string, nsSel NamespaceSelector, ns string, attach *AttachMetadata) item {
	sd := mapSlice{{"role", role}}
	var names []string
	switch {
	case nsSel.Any:
	case len(nsSel.MatchNames) == 0:
		names = []string{ns}
	default:
		names = nsSel.MatchNames
	}
	if len(names) > 0 {
		sd = append(sd, item{"namespaces", mapSlice{{"names", names}}})
	}
	if g.Kubeconfig != "" {
		sd = append(sd, item{"kubeconfig_file", g.Kubeconfig})
	}
	if attach != nil {
		sd = append(sd, item{"attach_metadata", mapSlice{{"node", attach.Node != nil && *attach.Node}}})
	}
	return item{"kubernetes_sd_configs", []mapSlice{sd}}
}

// addHTTP adds an endpoint's interval, timeout, path and HTTP settings.
func addHTTP(cfg mapSlice, h *HTTP) mapSlice {
	if h.Interval != "" {
		cfg = append(cfg, item{"scrape_interval", h.Interval})
	}
	if h.ScrapeTimeout != "" {
		cfg = append(cfg, item{"scrape_timeout", h.ScrapeTimeout})
	}
	if h.Path != "" {
		cfg = append(cfg, item{"metrics_path", h.Path})
	}
	if h.ProxyURL != nil {
		cfg = append(cfg, item{"proxy_url", *h.ProxyURL})
	}
	if h.Params != nil {
		cfg = append(cfg, item{"params", h.Params})
	}
	if h.Scheme != "" {
		cfg = append(cfg, item{"scheme", strings.ToLower(h.Scheme)})
	}
	cfg = addOpt(cfg, "follow_redirects", h.FollowRedirects)
	cfg = addOpt(cfg, "enable_http2", h.EnableHTTP2)
	return cfg
}

// addAuth adds the credentials read from Secrets, in the operator's order:
// bearer_token, basic_auth, authorization.
func (g *Generator) addAuth(cfg mapSlice, ns string, h *HTTP) (mapSlice, error) {
	if h.BearerTokenSecret != nil && h.BearerTokenSecret.Name != "" {
		tok, err := g.secret(ns, *h.BearerTokenSecret)
		if err != nil {
			return nil, fmt.Errorf("bearerTokenSecret: %w", err)
		}
		cfg = append(cfg, item{"bearer_token", tok})
	}
	if h.BasicAuth != nil {
		user, err := g.secret(ns, h.BasicAuth.Username)
		if err != nil {
			return nil, fmt.Errorf("basicAuth.username: %w", err)
		}
		pass, err := g.secret(ns, h.BasicAuth.Password)
		if err != nil {
			return nil, fmt.Errorf("basicAuth.password: %w", err)
		}
		cfg = append(cfg, item{"basic_auth", mapSlice{{"username", user}, {"password", pass}}})
	}
	if h.Authorization != nil {
		typ := h.Authorization.Type
		if typ == "" {
			typ = "Bearer"
		}
		auth := mapSlice{{"type", typ}}
		if h.Authorization.Credentials != nil {
			cred, err := g.secret(ns, *h.Authorization.Credentials)
			if err != nil {
				return nil, fmt.Errorf("authorization.credentials: %w", err)
			}
			auth = append(auth, item{"credentials", cred})
		}
		cfg = append(cfg, item{"authorization", auth})
	}
	return cfg, nil
}

// tlsConfig is the tls_config of t, with the Secrets' and ConfigMaps'
// contents inline (the operator mounts them as files; the server reads
// them from the API instead).
func (g *Generator) tlsConfig(ns string, t *TLSConfig) (mapSlice, error) {
	if t == nil {
		return nil, nil
	}
	var out mapSlice
	out = addOpt(out, "insecure_skip_verify", t.InsecureSkipVerify)
	ca, err := g.secretOrConfigMap(ns, t.CA)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	switch {
	case ca != "":
		out = append(out, item{"ca", ca})
	case t.CAFile != "":
		out = append(out, item{"ca_file", t.CAFile})
	}
	cert, err := g.secretOrConfigMap(ns, t.Cert)
	if err != nil {
		return nil, fmt.Errorf("cert: %w", err)
	}
	switch {
	case cert != "":
		out = append(out, item{"cert", cert})
	case t.CertFile != "":
		out = append(out, item{"cert_file", t.CertFile})
	}
	switch {
	case t.KeySecret != nil:
		key, err := g.secret(ns, *t.KeySecret)
		if err != nil {
			return nil, fmt.Errorf("keySecret: %w", err)
		}
		out = append(out, item{"key", key})
	case t.KeyFile != "":
		out = append(out, item{"key_file", t.KeyFile})
	}
	if t.ServerName != nil && *t.ServerName != "" {
		out = append(out, item{"server_name", *t.ServerName})
	}
	if t.MinVersion != nil {
		out = append(out, item{"min_version", *t.MinVersion})
	}
	if t.MaxVersion != nil {
		out = append(out, item{"max_version", *t.MaxVersion})
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func (g *Generator) secretOrConfigMap(ns string, s SecretOrConfigMap) (string, error) {
	switch {
	case s.Secret != nil && s.ConfigMap != nil:
		return "", errors.New("both secret and configMap are set")
	case s.Secret != nil:
		return g.secret(ns, *s.Secret)
	case s.ConfigMap != nil:
		if g.Refs == nil {
			return "", fmt.Errorf("configmap %s/%s: no access to ConfigMaps", ns, s.ConfigMap.Name)
		}
		return g.Refs.ConfigMapKey(ns, *s.ConfigMap)
	}
	return "", nil
}

func (g *Generator) secret(ns string, sel SecretKeySelector) (string, error) {
	if sel.Name == "" || sel.Key == "" {
		return "", errors.New("a secret reference needs a name and a key")
	}
	if g.Refs == nil {
		return "", fmt.Errorf("secret %s/%s: no access to Secrets", ns, sel.Name)
	}
	return g.Refs.SecretKey(ns, sel)
}

// selectorRelabelings turns a label selector on Services or Pods into
// keep and drop rules on their discovered labels, as the operator does
// (so that one job's discovery serves the selector).
func selectorRelabelings(sel metav1.LabelSelector, kind string) ([]mapSlice, error) {
	meta := "__meta_kubernetes_" + kind + "_label_"
	present := "__meta_kubernetes_" + kind + "_labelpresent_"
	var out []mapSlice
	keys := make([]string, 0, len(sel.MatchLabels))
	for k := range sel.MatchLabels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = append(out, mapSlice{{"action", "keep"}, {"source_labels", []string{meta + sanitizeLabelName(k), present + sanitizeLabelName(k)}}, {"regex", fmt.Sprintf("(%s);true", sel.MatchLabels[k])}})
	}
	for i, exp := range sel.MatchExpressions {
		k := sanitizeLabelName(exp.Key)
		switch exp.Operator {
		case metav1.LabelSelectorOpIn:
			out = append(out, mapSlice{{"action", "keep"}, {"source_labels", []string{meta + k, present + k}}, {"regex", fmt.Sprintf("(%s);true", strings.Join(exp.Values, "|"))}})
		case metav1.LabelSelectorOpNotIn:
			out = append(out, mapSlice{{"action", "drop"}, {"source_labels", []string{meta + k, present + k}}, {"regex", fmt.Sprintf("(%s);true", strings.Join(exp.Values, "|"))}})
		case metav1.LabelSelectorOpExists:
			out = append(out, mapSlice{{"action", "keep"}, {"source_labels", []string{present + k}}, {"regex", "true"}})
		case metav1.LabelSelectorOpDoesNotExist:
			out = append(out, mapSlice{{"action", "drop"}, {"source_labels", []string{present + k}}, {"regex", "true"}})
		default:
			return nil, fmt.Errorf("spec.selector.matchExpressions[%d]: operator %q is not In, NotIn, Exists or DoesNotExist", i, exp.Operator)
		}
	}
	return out, nil
}

// sdPrefix is the role's part of the __meta labels.
func sdPrefix(role string) string {
	if role == RoleEndpoints {
		return "endpoint"
	}
	return "endpointslice"
}

func initRelabelings() []mapSlice {
	// The job's configured name, before the rules below replace job.
	return []mapSlice{{{"source_labels", []string{"job"}}, {"target_label", "__tmp_prometheus_job_name"}}}
}

func runningFilter() mapSlice {
	return mapSlice{{"action", "drop"}, {"source_labels", []string{"__meta_kubernetes_pod_phase"}}, {"regex", "(Failed|Succeeded)"}}
}

func copyLabel(from, to string) mapSlice {
	return mapSlice{{"source_labels", []string{from}}, {"target_label", to}}
}

// fromLabel sets to from a label when that label is not empty.
func fromLabel(from, to string) mapSlice {
	return mapSlice{{"source_labels", []string{from}}, {"target_label", to}, {"regex", "(.+)"}, {"replacement", "${1}"}}
}

// relabelings writes the operator's camel-case rules in Prometheus's keys.
func relabelings(rcs []RelabelConfig) []mapSlice {
	var out []mapSlice
	for _, c := range rcs {
		r := mapSlice{}
		if len(c.SourceLabels) > 0 {
			r = append(r, item{"source_labels", c.SourceLabels})
		}
		if c.Separator != nil {
			r = append(r, item{"separator", *c.Separator})
		}
		if c.TargetLabel != "" {
			r = append(r, item{"target_label", c.TargetLabel})
		}
		if c.Regex != "" {
			r = append(r, item{"regex", c.Regex})
		}
		if c.Modulus != 0 {
			r = append(r, item{"modulus", c.Modulus})
		}
		if c.Replacement != nil {
			r = append(r, item{"replacement", *c.Replacement})
		}
		if c.Action != "" {
			r = append(r, item{"action", strings.ToLower(c.Action)})
		}
		out = append(out, r)
	}
	return out
}

func addLimits(cfg mapSlice, l *Limits) mapSlice {
	cfg = addOpt(cfg, "sample_limit", l.SampleLimit)
	cfg = addOpt(cfg, "target_limit", l.TargetLimit)
	cfg = addOpt(cfg, "label_limit", l.LabelLimit)
	cfg = addOpt(cfg, "label_name_length_limit", l.LabelNameLengthLimit)
	cfg = addOpt(cfg, "label_value_length_limit", l.LabelValueLengthLimit)
	return addOpt(cfg, "keep_dropped_targets", l.KeepDroppedTargets)
}

func addOpt[T any](cfg mapSlice, key string, v *T) mapSlice {
	if v == nil {
		return cfg
	}
	return append(cfg, item{key, *v})
}

var invalidLabelCharRE = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// sanitizeLabelName is a Kubernetes label's name in a __meta label, as
// Prometheus's Kubernetes discovery writes it.
func sanitizeLabelName(name string) string {
	return invalidLabelCharRE.ReplaceAllString(name, "_")
}

// item is a key and value of a mapSlice.
type item struct {
	k string
	v any
}

// mapSlice is a YAML mapping that keeps its keys' order (the operator's).
type mapSlice []item

// MarshalYAML writes the keys in order.
func (m mapSlice) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, it := range m {
		var v yaml.Node
		if err := v.Encode(it.v); err != nil {
			return nil, fmt.Errorf("%s: %w", it.k, err)
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: it.k}, &v)
	}
	return n, nil
}
