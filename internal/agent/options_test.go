package agent

import (
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/panoptes-dev/panoptes/internal/collector/host"
	"github.com/panoptes-dev/panoptes/internal/option"
)

func TestNewOptions(t *testing.T) {
	t.Parallel()
	o := NewOptions()
	if o.Listen != ":9100" || o.MetricsPath != "/metrics" || o.MaxRequests != 40 || o.GOMAXPROCS != 1 || o.GOGC != 60 {
		t.Errorf("NewOptions() = %+v: want node_exporter's :9100 and /metrics, 40 requests, GOMAXPROCS 1, GOGC 60", o)
	}
	if o.Collectors.Timeout != 8*time.Second || o.Collectors.Container.CRITimeout != 2*time.Second {
		t.Errorf("collector timeouts %v, CRI %v: want 8s and 2s", o.Collectors.Timeout, o.Collectors.Container.CRITimeout)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("the defaults do not validate: %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*Options)
		want   []string // the options the errors name, in order
	}{
		{"defaults", func(*Options) {}, nil},
		{"listen without port", func(o *Options) { o.Listen = "localhost" }, []string{"Listen"}},
		{"relative metrics path", func(o *Options) { o.MetricsPath = "metrics" }, []string{"MetricsPath"}},
		{"negative max requests", func(o *Options) { o.MaxRequests = -1 }, []string{"MaxRequests"}},
		{"negative GOMAXPROCS", func(o *Options) { o.GOMAXPROCS = -1 }, []string{"GOMAXPROCS"}},
		{"kubelet address", func(o *Options) { o.Kubelet.Address = "127.0.0.1:10250" }, nil},
		{"kubelet address without port", func(o *Options) { o.Kubelet.Address = "127.0.0.1" }, []string{"Kubelet.Address"}},
		{"kubelet address without the container collector", func(o *Options) {
			o.Kubelet.Address = ":10250"
			o.Collectors.Disable[ContainerName] = true
		}, []string{"Kubelet.Address"}},
		{"certificate without key", func(o *Options) {
			o.Kubelet.Address = ":10250"
			o.Kubelet.CertFile = "tls.crt"
		}, []string{"Kubelet.KeyFile"}},
		{"certificate without kubelet address (unused)", func(o *Options) { o.Kubelet.CertFile = "tls.crt" }, nil},
		{"negative collector timeout", func(o *Options) { o.Collectors.Timeout = -time.Second }, []string{"Collectors.Timeout"}},
		{"zero collector timeout (none)", func(o *Options) { o.Collectors.Timeout = 0 }, nil},
		{"zero CRI timeout", func(o *Options) { o.Collectors.Container.CRITimeout = 0 }, []string{"Collectors.Container.CRITimeout"}},
		{"enabled and disabled", func(o *Options) {
			o.Collectors.Enable["cpu"] = true
			o.Collectors.Disable["cpu"] = true
		}, []string{"Collectors.Disable.cpu"}},
		{"container enabled and disabled", func(o *Options) {
			o.Collectors.Enable[ContainerName] = true
			o.Collectors.Disable[ContainerName] = true
		}, []string{"Collectors.Disable.container"}},
		{"unknown collector", func(o *Options) { o.Collectors.Enable["nope"] = true }, []string{"Collectors.Enable"}},
		{"disable defaults, one enabled", func(o *Options) {
			o.Collectors.DisableDefaults = true
			o.Collectors.Enable["cpu"] = true
		}, nil},
		{"disable defaults, none enabled", func(o *Options) { o.Collectors.DisableDefaults = true }, []string{"Collectors.Enable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := NewOptions()
			tt.change(o)
			if diff := cmp.Diff(tt.want, option.Names(o.Validate())); diff != "" {
				t.Errorf("Validate() named options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCollectorChoices(t *testing.T) {
	t.Parallel()
	var defaults []string
	for _, info := range host.Collectors() {
		if info.DefaultEnabled {
			defaults = append(defaults, info.Name)
		}
	}
	tests := []struct {
		name   string
		change func(*CollectorOptions)
		want   []string
	}{
		{"defaults", func(*CollectorOptions) {}, append(defaults, ContainerName)},
		{"disable defaults, enable cpu", func(o *CollectorOptions) {
			o.DisableDefaults = true
			o.Enable["cpu"] = true
		}, []string{"cpu"}},
		{"disable defaults, enable the container collector", func(o *CollectorOptions) {
			o.DisableDefaults = true
			o.Enable[ContainerName] = true
		}, []string{ContainerName}},
		{"--collector.cpu=false", func(o *CollectorOptions) { o.Enable["cpu"] = false }, append(without(defaults, "cpu"), ContainerName)},
		{"--no-collector.container", func(o *CollectorOptions) { o.Disable[ContainerName] = true }, defaults},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := NewCollectorOptions()
			tt.change(&o)
			if diff := cmp.Diff(tt.want, o.names()); diff != "" {
				t.Errorf("names() (-want +got):\n%s", diff)
			}
		})
	}
}

func without(names []string, drop string) []string {
	var out []string
	for _, n := range names {
		if n != drop {
			out = append(out, n)
		}
	}
	return out
}

// TestBuildIncludeReplacesDefaultExclude: an include pattern given alone
// replaces the default exclude, as in node_exporter; with a non-default
// exclude the two contradict.
func TestBuildIncludeReplacesDefaultExclude(t *testing.T) {
	t.Parallel()
	o := NewCollectorOptions()
	o.DisableDefaults = true
	o.Enable["diskstats"], o.Enable["netdev"] = true, true
	o.Host.ProcRoot, o.Host.SysRoot = t.TempDir(), t.TempDir()
	o.Host.Diskstats.DeviceInclude, o.Host.Netdev.DeviceInclude = "^sd", "^eth"
	if _, err := o.Build(slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("include with the default exclude: %v", err)
	}
	o.Host.Diskstats.DeviceExclude = "^loop"
	if _, err := o.Build(slog.New(slog.DiscardHandler)); err == nil {
		t.Error("include with a non-default exclude: no error")
	}
}
