package server

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/panoptes-dev/panoptes/internal/option"
)

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*Options)
		want   []string // the options the errors name, in order
		limits storageLimits
	}{
		{name: "defaults", change: func(*Options) {},
			limits: storageLimits{retention: 15 * 24 * time.Hour, minFree: 64 << 20}},
		{name: "retention time", change: func(o *Options) { o.RetentionTime = "30d" },
			limits: storageLimits{retention: 30 * 24 * time.Hour, minFree: 64 << 20}},
		{name: "only a retention size: no time limit", change: func(o *Options) { o.RetentionSize = "10GB" },
			limits: storageLimits{retentionSize: 10 << 30, minFree: 64 << 20}},
		{name: "both", change: func(o *Options) { o.RetentionTime, o.RetentionSize = "12h", "512MB" },
			limits: storageLimits{retention: 12 * time.Hour, retentionSize: 512 << 20, minFree: 64 << 20}},
		{name: "min free space off", change: func(o *Options) { o.MinFreeSpace = "0" },
			limits: storageLimits{retention: 15 * 24 * time.Hour}},
		{name: "min free space empty", change: func(o *Options) { o.MinFreeSpace = "" },
			limits: storageLimits{retention: 15 * 24 * time.Hour}},
		{name: "bad retention time", change: func(o *Options) { o.RetentionTime = "15 days" }, want: []string{"RetentionTime"}},
		{name: "bad retention size", change: func(o *Options) { o.RetentionSize = "lots" }, want: []string{"RetentionSize"}},
		{name: "bad min free space", change: func(o *Options) { o.MinFreeSpace = "64 megs" }, want: []string{"MinFreeSpace"}},
		{name: "listen address without port", change: func(o *Options) { o.ListenAddress = "localhost" }, want: []string{"ListenAddress"}},
		{name: "no storage path", change: func(o *Options) { o.StoragePath = "" }, want: []string{"StoragePath"}},
		{name: "bad external URL", change: func(o *Options) { o.ExternalURL = "http://[::1" }, want: []string{"ExternalURL"}},
		{name: "zero query timeout", change: func(o *Options) { o.QueryTimeout = 0 }, want: []string{"QueryTimeout"}},
		{name: "zero max samples", change: func(o *Options) { o.QueryMaxSamples = 0 }, want: []string{"QueryMaxSamples"}},
		{name: "zero max concurrency", change: func(o *Options) { o.QueryMaxConcurrency = 0 }, want: []string{"QueryMaxConcurrency"}},
		{name: "zero lookback", change: func(o *Options) { o.LookbackDelta = 0 }, want: []string{"LookbackDelta"}},
		{name: "zero remote-write concurrency", change: func(o *Options) { o.RemoteWriteMaxConcurrentRequests = 0 }, want: []string{"RemoteWriteMaxConcurrentRequests"}},
		{name: "negative read timeout", change: func(o *Options) { o.ReadTimeout = -time.Second }, want: []string{"ReadTimeout"}},
		{name: "negative max connections", change: func(o *Options) { o.MaxConnections = -1 }, want: []string{"MaxConnections"}},
		{name: "no read timeout, no connection limit", change: func(o *Options) { o.ReadTimeout, o.MaxConnections = 0, 0 },
			limits: storageLimits{retention: 15 * 24 * time.Hour, minFree: 64 << 20}},
		{name: "two at once", change: func(o *Options) { o.ListenAddress, o.RetentionSize = "x", "y" }, want: []string{"ListenAddress", "RetentionSize"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := NewOptions()
			tt.change(o)
			err := o.Validate()
			if diff := cmp.Diff(tt.want, option.Names(err)); diff != "" {
				t.Errorf("Validate() = %v; named options (-want +got):\n%s", err, diff)
			}
			if err != nil {
				return
			}
			limits, err := o.storageLimits()
			if err != nil {
				t.Fatal(err)
			}
			if limits != tt.limits {
				t.Errorf("storageLimits() = %+v, want %+v", limits, tt.limits)
			}
		})
	}
}

// TestNewValidates: New refuses bad options before it touches the disk.
func TestNewValidates(t *testing.T) {
	t.Parallel()
	o := NewOptions()
	o.StoragePath, o.RetentionTime = t.TempDir()+"/data", "forever"
	_, err := New(o, nil)
	var oe *option.Error
	if !errors.As(err, &oe) || oe.Option != "RetentionTime" {
		t.Fatalf("New with a bad retention: %v, want an option error for RetentionTime", err)
	}
}

// TestNewOptionsSafeDefaults: the write endpoints are off and the limits on,
// with Prometheus's values where Prometheus has the flag.
func TestNewOptionsSafeDefaults(t *testing.T) {
	t.Parallel()
	o := NewOptions()
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"EnableRemoteWriteReceiver", o.EnableRemoteWriteReceiver, false},
		{"EnableLifecycle", o.EnableLifecycle, false},
		{"EnableAdminAPI", o.EnableAdminAPI, false},
		{"EnablePprof", o.EnablePprof, false},
		{"ReadTimeout", o.ReadTimeout, 5 * time.Minute},
		{"MaxConnections", o.MaxConnections, 512},
		{"RemoteWriteMaxConcurrentRequests", o.RemoteWriteMaxConcurrentRequests, max(10, 2*runtime.GOMAXPROCS(0))},
	} {
		if tc.got != tc.want {
			t.Errorf("NewOptions().%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}
