package server

import (
	"errors"
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
