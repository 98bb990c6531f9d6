package monitors

import (
	"errors"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/panoptes-dev/panoptes/internal/option"
)

// Options select the ServiceMonitor, PodMonitor and Probe objects that
// become scrape jobs, as a Prometheus object's serviceMonitorSelector,
// podMonitorSelector, probeSelector and their namespace selectors do,
// except that empty selectors select everything (see the package comment).
type Options struct {
	// Kubeconfig is a kubeconfig file, for the watch and for the generated
	// jobs' Kubernetes discovery; empty means in-cluster (the pod's
	// ServiceAccount).
	Kubeconfig string
	// ServiceMonitorSelector is a label selector on ServiceMonitors;
	// empty selects all of them.
	ServiceMonitorSelector string
	// ServiceMonitorNamespaceSelector is a label selector on namespaces:
	// only ServiceMonitors in matching namespaces are taken; empty means
	// every namespace.
	ServiceMonitorNamespaceSelector string
	// PodMonitorSelector is a label selector on PodMonitors.
	PodMonitorSelector string
	// PodMonitorNamespaceSelector is a label selector on the PodMonitors'
	// namespaces.
	PodMonitorNamespaceSelector string
	// ProbeSelector is a label selector on Probes.
	ProbeSelector string
	// ProbeNamespaceSelector is a label selector on the Probes'
	// namespaces.
	ProbeNamespaceSelector string
	// Namespaces, when not empty, are the only namespaces whose objects
	// are watched (RBAC in those namespaces suffices for the watch).
	Namespaces []string
	// Role is the Kubernetes discovery role of the ServiceMonitors' jobs:
	// RoleEndpointSlice (the default) or RoleEndpoints.
	Role string
}

// NewOptions returns the defaults: every object of every namespace,
// EndpointSlice discovery, in-cluster credentials.
func NewOptions() *Options {
	return &Options{Role: RoleEndpointSlice}
}

// selectors are the option names and values of the label selectors.
func (o *Options) selectors() [][2]string {
	return [][2]string{
		{"ServiceMonitorSelector", o.ServiceMonitorSelector},
		{"ServiceMonitorNamespaceSelector", o.ServiceMonitorNamespaceSelector},
		{"PodMonitorSelector", o.PodMonitorSelector},
		{"PodMonitorNamespaceSelector", o.PodMonitorNamespaceSelector},
		{"ProbeSelector", o.ProbeSelector},
		{"ProbeNamespaceSelector", o.ProbeNamespaceSelector},
	}
}

// Validate checks that the selectors parse, the namespaces are names and
// the role is known, each error an *option.Error naming its Options
// field. It does not contact the API server (New does not either).
func (o *Options) Validate() error {
	var errs []error
	for _, s := range o.selectors() {
		if _, err := labels.Parse(s[1]); err != nil {
			errs = append(errs, option.Invalid(s[0], "%q is not a label selector: %w", s[1], err))
		}
	}
	for _, ns := range o.Namespaces {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			errs = append(errs, option.Invalid("Namespaces", "%q is not a namespace name: %s", ns, strings.Join(msgs, "; ")))
		}
	}
	if o.Role != RoleEndpointSlice && o.Role != RoleEndpoints {
		errs = append(errs, option.Invalid("Role", "%q is neither %s nor %s", o.Role, RoleEndpointSlice, RoleEndpoints))
	}
	return errors.Join(errs...)
}
