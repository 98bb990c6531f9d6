package kuberules

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
			o.LabelSelector = "role=alert-rules,prometheus in (k8s, main),!skip"
			o.NamespaceSelector = "monitoring notin (off)"
			o.Namespaces = []string{"default", "kube-system"}
		}},
		{name: "bad label selector", edit: func(o *Options) { o.LabelSelector = "role in x" }, want: []string{"LabelSelector"}},
		{name: "bad namespace selector", edit: func(o *Options) { o.NamespaceSelector = "a in (b" }, want: []string{"NamespaceSelector"}},
		{name: "bad namespace", edit: func(o *Options) { o.Namespaces = []string{"ok", "Not_A_Name", ""} }, want: []string{"Namespaces", "Namespaces"}},
		{name: "all", edit: func(o *Options) {
			o.LabelSelector, o.NamespaceSelector, o.Namespaces = "=", "=", []string{"-"}
		}, want: []string{"LabelSelector", "NamespaceSelector", "Namespaces"}},
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
