package kuberules

import (
	"errors"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/panoptes-dev/panoptes/internal/option"
)

// Options select which PrometheusRule objects are loaded, as
// prometheus-operator's ruleSelector and ruleNamespaceSelector do, except
// that empty selectors select everything (see the package comment).
type Options struct {
	// Kubeconfig is a kubeconfig file; empty means in-cluster (the pod's
	// ServiceAccount).
	Kubeconfig string
	// LabelSelector is a label selector (Kubernetes syntax, e.g.
	// "role=alert-rules,prometheus in (k8s)") on the PrometheusRule objects;
	// empty selects all of them.
	LabelSelector string
	// NamespaceSelector is a label selector on namespaces: only objects in
	// namespaces whose labels match are loaded. Empty means all namespaces
	// (and no access to namespaces is needed).
	NamespaceSelector string
	// Namespaces, when not empty, are the only namespaces watched (RBAC in
	// those namespaces suffices); NamespaceSelector then narrows them
	// further.
	Namespaces []string
}

// NewOptions returns the defaults: every PrometheusRule object of every
// namespace, in-cluster credentials.
func NewOptions() *Options {
	return &Options{}
}

// Validate checks that the selectors parse and the namespaces are names,
// each error an *option.Error naming its Options field. It does not contact
// the API server or read the kubeconfig (New does).
func (o *Options) Validate() error {
	var errs []error
	if _, err := labels.Parse(o.LabelSelector); err != nil {
		errs = append(errs, option.Invalid("LabelSelector", "%q is not a label selector: %w", o.LabelSelector, err))
	}
	if _, err := labels.Parse(o.NamespaceSelector); err != nil {
		errs = append(errs, option.Invalid("NamespaceSelector", "%q is not a label selector: %w", o.NamespaceSelector, err))
	}
	for _, ns := range o.Namespaces {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			errs = append(errs, option.Invalid("Namespaces", "%q is not a namespace name: %s", ns, strings.Join(msgs, "; ")))
		}
	}
	return errors.Join(errs...)
}
