package allinone

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/panoptes-dev/panoptes/internal/option"
	"github.com/panoptes-dev/panoptes/internal/server"
)

func TestNewOptions(t *testing.T) {
	t.Parallel()
	o := NewOptions()
	s := server.NewOptions()
	if o.Server.ListenAddress != "127.0.0.1:9090" {
		t.Errorf("listen address %q, want 127.0.0.1:9090 (loopback)", o.Server.ListenAddress)
	}
	if o.Server.StoragePath != s.StoragePath || o.Server.GOGC != s.GOGC {
		t.Errorf("storage %q, GOGC %d: want the server's %q, %d", o.Server.StoragePath, o.Server.GOGC, s.StoragePath, s.GOGC)
	}
	// On loopback the receiver and /-/reload stay on; the server's guard
	// refuses them to other sites' pages.
	if !o.Server.EnableRemoteWriteReceiver || !o.Server.EnableLifecycle || o.Server.EnablePprof {
		t.Errorf("receiver %v, lifecycle %v, pprof %v: want on, on, off", o.Server.EnableRemoteWriteReceiver, o.Server.EnableLifecycle, o.Server.EnablePprof)
	}
	if o.Server.MaxConnections != s.MaxConnections || o.Server.ReadTimeout != s.ReadTimeout {
		t.Errorf("max connections %d, read timeout %v: want the server's %d, %v", o.Server.MaxConnections, o.Server.ReadTimeout, s.MaxConnections, s.ReadTimeout)
	}
	if o.Interval != 15*time.Second {
		t.Errorf("interval %v, want 15s", o.Interval)
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
		want   []string
	}{
		{"defaults", func(*Options) {}, nil},
		{"server option", func(o *Options) { o.Server.RetentionTime = "forever" }, []string{"Server.RetentionTime"}},
		{"collector option", func(o *Options) { o.Collectors.Timeout = -time.Second }, []string{"Collectors.Timeout"}},
		{"interval", func(o *Options) { o.Interval = 0 }, []string{"Interval"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := NewOptions()
			tt.change(o)
			var got []string
			if err := o.Validate(); err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var oe *option.Error
					if !errors.As(e, &oe) {
						t.Fatalf("%v is not an option error", e)
					}
					got = append(got, oe.Option)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate() named options (-want +got):\n%s", diff)
			}
		})
	}
}
