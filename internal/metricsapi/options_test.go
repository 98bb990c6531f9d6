package metricsapi

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/panoptes-dev/panoptes/internal/option"
)

// TestNewOptions: metrics-server's defaults, which its Deployments rely on.
func TestNewOptions(t *testing.T) {
	t.Parallel()
	o := NewOptions()
	got := struct {
		Resolution, Timeout, Relist time.Duration
		Port, Concurrency, Secure   int
		Types                       []string
		Source, Selector            string
	}{o.MetricResolution, o.Kubelet.RequestTimeout, o.Custom.RelistInterval,
		o.Kubelet.Port, o.Concurrency, o.SecureServing.BindPort,
		o.Kubelet.PreferredAddressTypes, o.Source, o.Agents.Selector}
	want := got
	want.Resolution, want.Timeout, want.Relist = 15*time.Second, 10*time.Second, time.Minute
	want.Port, want.Concurrency, want.Secure = 10250, 64, 4443
	want.Types = []string{"Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP"}
	want.Source, want.Selector = SourceKubelet, "app.kubernetes.io/name=panoptes-agent"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewOptions() (-want +got):\n%s", diff)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("the defaults do not validate: %v", err)
	}
}

// TestValidate: each invalid option is reported under its Options field.
func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*Options)
		want   []string // the options named, in order; nil: valid
	}{
		{"defaults", func(*Options) {}, nil},
		{"agents", func(o *Options) {
			o.Source, o.Agents.Namespace, o.Kubelet.CAFile = SourceAgents, "monitoring", "agent-ca.crt"
		}, nil},
		{"agents in every namespace", func(o *Options) { o.Source, o.Kubelet.CAFile = SourceAgents, "agent-ca.crt" }, []string{"Agents.Namespace"}},
		{"agents without their CA", func(o *Options) { o.Source, o.Agents.Namespace = SourceAgents, "monitoring" }, []string{"Kubelet.CAFile"}},
		{"agents without verification", func(o *Options) {
			o.Source, o.Agents.Namespace, o.Kubelet.InsecureTLS = SourceAgents, "monitoring", true
		}, []string{"Kubelet.InsecureTLS"}},
		{"agents, nothing given", func(o *Options) { o.Source = SourceAgents }, []string{"Agents.Namespace", "Kubelet.CAFile"}},
		{"kubelets without verification", func(o *Options) { o.Kubelet.InsecureTLS = true }, nil},
		{"agent namespace unused with kubelets", func(o *Options) { o.Agents.Namespace = "" }, nil},
		{"resolution under 10s", func(o *Options) { o.MetricResolution = 5 * time.Second; o.Kubelet.RequestTimeout = time.Second }, []string{"MetricResolution"}},
		{"timeout not positive", func(o *Options) { o.Kubelet.RequestTimeout = 0 }, []string{"Kubelet.RequestTimeout"}},
		{"timeout over 90% of resolution", func(o *Options) { o.Kubelet.RequestTimeout = 14 * time.Second }, []string{"Kubelet.RequestTimeout"}},
		{"timeout at 90% of resolution", func(o *Options) { o.MetricResolution, o.Kubelet.RequestTimeout = 10*time.Second, 9*time.Second }, nil},
		{"CA and insecure", func(o *Options) { o.Kubelet.CAFile, o.Kubelet.InsecureTLS = "ca.crt", true }, []string{"Kubelet.CAFile"}},
		{"cert without key", func(o *Options) { o.Kubelet.ClientCertFile = "c.crt" }, []string{"Kubelet.ClientCertFile"}},
		{"key without cert", func(o *Options) { o.Kubelet.ClientKeyFile = "c.key" }, []string{"Kubelet.ClientCertFile"}},
		{"cert and key", func(o *Options) { o.Kubelet.ClientCertFile, o.Kubelet.ClientKeyFile = "c.crt", "c.key" }, nil},
		{"unknown source", func(o *Options) { o.Source = "cadvisor" }, []string{"Source"}},
		{"no concurrency", func(o *Options) { o.Concurrency = 0 }, []string{"Concurrency"}},
		{"unknown address types", func(o *Options) { o.Kubelet.PreferredAddressTypes = []string{"InternalIP", "Public", "x"} }, []string{"Kubelet.PreferredAddressTypes", "Kubelet.PreferredAddressTypes"}},
		{"bad node selector", func(o *Options) { o.NodeSelector = "a=(b" }, []string{"NodeSelector"}},
		{"bad agent selector", func(o *Options) { o.Agents.Selector = "!!" }, []string{"Agents.Selector"}},
		{"prometheus without rules", func(o *Options) { o.Custom.PrometheusURL = "http://server:9090" }, []string{"Custom.PrometheusURL"}},
		{"rules without prometheus", func(o *Options) { o.Custom.ConfigFile = "rules.yaml" }, []string{"Custom.PrometheusURL"}},
		{"custom, no relist", func(o *Options) {
			o.Custom = CustomOptions{PrometheusURL: "http://server:9090", ConfigFile: "rules.yaml"}
		}, []string{"Custom.RelistInterval"}},
		{"relist unused without custom", func(o *Options) { o.Custom.RelistInterval = 0 }, nil},
		{"several at once", func(o *Options) { o.Concurrency, o.Source = -1, "" }, []string{"Source", "Concurrency"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := NewOptions()
			tt.change(o)
			err := o.Validate()
			if diff := cmp.Diff(tt.want, option.Names(err)); diff != "" {
				t.Errorf("Validate() = %v; options named (-want +got):\n%s", err, diff)
			}
		})
	}
}

// TestValidateApiserverOptions: k8s.io/apiserver's own options are
// validated too, under their own flag names.
func TestValidateApiserverOptions(t *testing.T) {
	t.Parallel()
	o := NewOptions()
	o.SecureServing.BindPort = -1
	err := o.Validate()
	if err == nil || !strings.Contains(err.Error(), "--secure-port") {
		t.Errorf("Validate() = %v, want the --secure-port error of k8s.io/apiserver", err)
	}
}
