package monitors

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/panoptes-dev/panoptes/internal/option"
)

// TestValidate: the defaults validate, and each invalid option is reported
// under its Options field.
func TestValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(*Options)
		want []string // the options named in the error, in order
	}{
		{name: "defaults", edit: func(*Options) {}},
		{name: "selectors", edit: func(o *Options) {
			o.ServiceMonitorSelector = "release=prod,team in (a, b)"
			o.PodMonitorNamespaceSelector = "monitoring notin (off)"
			o.ProbeSelector = "!skip"
			o.Namespaces = []string{"default", "kube-system"}
			o.Role = RoleEndpoints
		}},
		{name: "bad selectors", edit: func(o *Options) {
			o.ServiceMonitorSelector, o.ServiceMonitorNamespaceSelector = "a in b", "="
			o.PodMonitorSelector, o.PodMonitorNamespaceSelector = "(", "x in (y"
			o.ProbeSelector, o.ProbeNamespaceSelector = "=", "=="
		}, want: []string{"ServiceMonitorSelector", "ServiceMonitorNamespaceSelector", "PodMonitorSelector", "PodMonitorNamespaceSelector", "ProbeSelector", "ProbeNamespaceSelector"}},
		{name: "bad namespace", edit: func(o *Options) { o.Namespaces = []string{"ok", "Not_A_Name"} }, want: []string{"Namespaces"}},
		{name: "bad role", edit: func(o *Options) { o.Role = "pod" }, want: []string{"Role"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := NewOptions()
			tc.edit(o)
			err := o.Validate()
			if diff := cmp.Diff(tc.want, option.Names(err)); diff != "" {
				t.Errorf("options named in %v (-want +got):\n%s", err, diff)
			}
		})
	}
}
