package state

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/kube-state-metrics/v2/pkg/options"

	"github.com/panoptes-dev/panoptes/internal/option"
)

const validCRConfig = `spec:
  resources:
    - groupVersionKind: {group: example.com, version: v1, kind: Foo}
      metrics:
        - name: ready
          help: ready
          each: {type: Gauge, gauge: {path: [status, ready]}}
`

// TestNewOptions: kube-state-metrics' defaults, which its Deployments rely
// on, and panoptes' GOGC.
func TestNewOptions(t *testing.T) {
	t.Parallel()
	o := NewOptions()
	want := &Options{
		Resources:            options.ResourceSet{},
		LabelsAllowList:      options.LabelsAllowList{},
		AnnotationsAllowList: options.LabelsAllowList{},
		MetricAllowlist:      options.MetricSet{},
		MetricDenylist:       options.MetricSet{},
		MetricOptIn:          options.MetricSet{},
		TotalShards:          1,
		Host:                 "::",
		Port:                 8080,
		TelemetryHost:        "::",
		TelemetryPort:        8081,
		GOGC:                 50,
	}
	if diff := cmp.Diff(want, o); diff != "" {
		t.Errorf("NewOptions() (-want +got):\n%s", diff)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("the defaults do not validate: %v", err)
	}
	// The set-valued options are flag values: Set must work on the
	// defaults (a nil map would panic).
	if err := o.Resources.Set("pods,nodes"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"nodes", "pods"}, o.resourceNames()); diff != "" {
		t.Errorf("resourceNames (-want +got):\n%s", diff)
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
		{"known resources", func(o *Options) { o.Resources = options.ResourceSet{"pods": {}, "roles": {}} }, nil},
		{"unknown resource", func(o *Options) { o.Resources = options.ResourceSet{"pods": {}, "podz": {}} }, []string{"Resources"}},
		{"empty denied namespace", func(o *Options) { o.NamespacesDenylist = options.NamespaceList{"kube-system", ""} }, []string{"NamespacesDenylist"}},
		{"allowlist", func(o *Options) { o.MetricAllowlist = options.MetricSet{"kube_pod_.*": {}} }, nil},
		{"allowlist and denylist", func(o *Options) {
			o.MetricAllowlist, o.MetricDenylist = options.MetricSet{"a": {}}, options.MetricSet{"b": {}}
		}, []string{"MetricAllowlist"}},
		{"bad allowlist regexp", func(o *Options) { o.MetricAllowlist = options.MetricSet{"(": {}} }, []string{"MetricAllowlist"}},
		{"bad denylist regexp", func(o *Options) { o.MetricDenylist = options.MetricSet{"(": {}} }, []string{"MetricDenylist"}},
		{"bad opt-in regexp", func(o *Options) { o.MetricOptIn = options.MetricSet{"[": {}} }, []string{"MetricOptIn"}},
		{"two shards", func(o *Options) { o.Shard, o.TotalShards = 1, 2 }, nil},
		{"no shards", func(o *Options) { o.TotalShards = 0 }, []string{"TotalShards"}},
		{"shard past the last", func(o *Options) { o.Shard, o.TotalShards = 2, 2 }, []string{"Shard"}},
		{"negative shard", func(o *Options) { o.Shard = -1 }, []string{"Shard"}},
		{"automatic sharding", func(o *Options) { o.Pod, o.PodNamespace = "ksm-1", "monitoring" }, nil},
		{"pod without namespace", func(o *Options) { o.Pod = "ksm-1" }, []string{"Pod"}},
		{"namespace without pod", func(o *Options) { o.PodNamespace = "monitoring" }, []string{"Pod"}},
		{"custom resources", func(o *Options) { o.CustomResourceConfig = validCRConfig }, nil},
		{"bad custom resources", func(o *Options) { o.CustomResourceConfig = "spec: [" }, []string{"CustomResourceConfig"}},
		{"custom resources twice", func(o *Options) {
			o.CustomResourceConfig, o.CustomResourceConfigFile = validCRConfig, "crs.yaml"
		}, []string{"CustomResourceConfig"}},
		{"file not read by Validate", func(o *Options) { o.CustomResourceConfigFile = "/nonexistent" }, nil},
		{"listen", func(o *Options) { o.Listen = ":8080" }, nil},
		{"listen without port", func(o *Options) { o.Listen = "localhost" }, []string{"Listen"}},
		{"several at once", func(o *Options) { o.TotalShards, o.Listen = 0, "x" }, []string{"TotalShards", "Listen"}},
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

func TestCustomResourceConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.yaml"), filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte(validCRConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("spec: ["), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, inline, file string
		want               string
		wantErr            bool
	}{
		{name: "none"},
		{name: "inline", inline: validCRConfig, want: validCRConfig},
		{name: "file", file: good, want: validCRConfig},
		{name: "missing file", file: filepath.Join(dir, "missing.yaml"), wantErr: true},
		{name: "bad file", file: bad, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := NewOptions()
			o.CustomResourceConfig, o.CustomResourceConfigFile = tt.inline, tt.file
			got, err := o.customResourceConfig()
			if tt.wantErr {
				if diff := cmp.Diff([]string{"CustomResourceConfigFile"}, option.Names(err)); diff != "" {
					t.Errorf("customResourceConfig() = %v; options named (-want +got):\n%s", err, diff)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("customResourceConfig() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestAddresses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name               string
		change             func(*Options)
		metrics, telemetry string
	}{
		{"defaults", func(*Options) {}, "[::]:8080", "[::]:8081"},
		{"host and port", func(o *Options) { o.Host, o.Port, o.TelemetryHost, o.TelemetryPort = "127.0.0.1", 9000, "127.0.0.1", 0 }, "127.0.0.1:9000", "127.0.0.1:0"},
		{"listen wins", func(o *Options) { o.Host, o.Listen = "127.0.0.1", ":18080" }, ":18080", "[::]:8081"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := NewOptions()
			tt.change(o)
			if got := o.metricsAddress(); got != tt.metrics {
				t.Errorf("metricsAddress() = %q, want %q", got, tt.metrics)
			}
			if got := o.telemetryAddress(); got != tt.telemetry {
				t.Errorf("telemetryAddress() = %q, want %q", got, tt.telemetry)
			}
		})
	}
}

func TestResourceLists(t *testing.T) {
	t.Parallel()
	def, other, all := DefaultResources(), OtherResources(), Resources()
	for name, l := range map[string][]string{"DefaultResources": def, "OtherResources": other, "Resources": all} {
		if !sort.StringsAreSorted(l) {
			t.Errorf("%s not sorted: %v", name, l)
		}
	}
	both := append(append([]string{}, def...), other...)
	sort.Strings(both)
	if diff := cmp.Diff(all, both); diff != "" {
		t.Errorf("DefaultResources and OtherResources are not Resources (-all +both):\n%s", diff)
	}
	if diff := cmp.Diff(def, NewOptions().resourceNames()); diff != "" {
		t.Errorf("no Resources: not the default set (-want +got):\n%s", diff)
	}
}
