package alertmanager

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/panoptes-dev/panoptes/internal/option"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(*Options)
		want []string
	}{
		{"defaults", func(*Options) {}, nil},
		{"no config", func(o *Options) { o.ConfigFile = "" }, []string{"ConfigFile"}},
		{"no storage", func(o *Options) { o.StoragePath = "" }, []string{"StoragePath"}},
		{"zero intervals", func(o *Options) {
			o.Retention, o.MaintenanceInterval, o.AlertGCInterval, o.DispatchMaintenanceInterval = 0, 0, -time.Second, 0
		}, []string{"Retention", "MaintenanceInterval", "AlertGCInterval", "DispatchMaintenanceInterval"}},
		{"negative delays", func(o *Options) { o.DispatchStartDelay, o.HTTPTimeout = -1, -1 }, []string{"DispatchStartDelay", "HTTPTimeout"}},
		{"listen", func(o *Options) { o.ListenAddress = "9093" }, []string{"ListenAddress"}},
		{"external URL scheme", func(o *Options) { o.ExternalURL = "ftp://x/am" }, []string{"ExternalURL"}},
		{"feature", func(o *Options) { o.EnableFeatures = "no-such-feature" }, []string{"EnableFeatures"}},
		{"peers without a cluster", func(o *Options) { o.ClusterPeers = []string{"a:9094"} }, []string{"ClusterPeers"}},
		{"cluster", func(o *Options) {
			o.ClusterListenAddress, o.ClusterPeers = "127.0.0.1:9094", []string{"b:9094"}
		}, nil},
		{"cluster address", func(o *Options) { o.ClusterListenAddress = "nowhere" }, []string{"ClusterListenAddress"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := NewOptions()
			tc.edit(o)
			if diff := cmp.Diff(tc.want, option.Names(o.Validate())); diff != "" {
				t.Errorf("invalid options (-want +got):\n%s", diff)
			}
		})
	}
}
