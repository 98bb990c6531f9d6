package top

import (
	"errors"
	"testing"
	"time"

	"github.com/panoptes-dev/panoptes/internal/option"
)

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*Options)
		option string // the option the error names; "" for none
	}{
		{"defaults", func(*Options) {}, ""},
		{"sort by cpu", func(o *Options) { o.SortBy = "cpu" }, ""},
		{"sort by memory", func(o *Options) { o.SortBy = "memory" }, ""},
		{"sort by size", func(o *Options) { o.SortBy = "size" }, "SortBy"},
		{"zero interval", func(o *Options) { o.Interval = 0 }, "Interval"},
		{"negative interval", func(o *Options) { o.Interval = -time.Second }, "Interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := NewOptions()
			tt.change(o)
			err := o.Validate()
			var oe *option.Error
			switch {
			case tt.option == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.option != "" && !errors.As(err, &oe):
				t.Errorf("Validate() = %v, want an *option.Error for %s", err, tt.option)
			case tt.option != "" && oe.Option != tt.option:
				t.Errorf("Validate() names %q, want %q", oe.Option, tt.option)
			}
		})
	}
}

// TestNewSourceAgent: --agent, and no kubeconfig at all, read an agent over
// every namespace.
func TestNewSourceAgent(t *testing.T) {
	t.Setenv("KUBECONFIG", t.TempDir()+"/none")
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	for _, url := range []string{"http://agent:9100", ""} {
		o := NewOptions()
		o.Agent = url
		src, err := NewSource(o)
		if err != nil {
			t.Fatalf("NewSource(agent %q): %v", url, err)
		}
		a, ok := src.(*Agent)
		if !ok {
			t.Fatalf("NewSource(agent %q) = %T, want *Agent", url, src)
		}
		want := url
		if want == "" {
			want = DefaultAgent
		}
		if a.URL != want || a.Interval != time.Second || !o.AllNamespaces {
			t.Errorf("NewSource(agent %q) = %+v (all namespaces %v), want URL %s, interval 1s, all namespaces", url, a, o.AllNamespaces, want)
		}
	}
	o := NewOptions()
	o.Kubeconfig = t.TempDir() + "/missing"
	if _, err := NewSource(o); err == nil {
		t.Error("NewSource with a missing --kubeconfig: no error")
	}
}
