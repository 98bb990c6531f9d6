// Package kuberules turns the PrometheusRule objects of a Kubernetes cluster
// (monitoring.coreos.com/v1, prometheus-operator's custom resource) into
// Prometheus rule files for the server's rule manager, so that a cluster
// whose alerts live in PrometheusRule objects keeps them when Panoptes
// replaces Prometheus and the operator.
//
// A Watcher lists and watches the objects with client-go's dynamic informer
// (unstructured objects, no generated client), keeps the selected ones as
// rule files in memory, identified as "prometheusrule/<namespace>/<name>",
// and calls back, debounced, when that set changes; the server's rule
// loader reads them with Files on its next reload.
//
// What an object becomes is what prometheus-operator writes for a
// Prometheus server: the object's spec as a rule file, the fields it knows
// only (partial_response_strategy, a Thanos Ruler field that Prometheus's
// parser rejects, is dropped; empty interval and for are left out), and
// nothing added: the operator enforces a namespace label only when its
// enforcedNamespaceLabel is set, which has no counterpart here. Each file is
// checked with Prometheus's own rule-file parser (rulefmt); an object that
// does not pass is left out and reported (a log line with the parser's
// error, the panoptes_prometheusrule_invalid gauge and a Warning Event on
// the object), and the other objects still load, as the operator does.
//
// Selection differs from prometheus-operator's in one deliberate way: the
// operator's ruleSelector selects nothing when unset and everything when
// empty ({}), and its ruleNamespaceSelector, when unset, only the Prometheus
// object's own namespace. Here the feature is switched on by the server's
// --rules.kubernetes flag, so an empty label selector selects every object
// and an empty namespace selector every namespace; Options.Namespaces
// narrows the watch to named namespaces (and needs RBAC in those only).
//
// A cluster without the PrometheusRule CRD is not an error: the watcher
// logs it once and looks again every minute, so installing the CRD later
// (deploy/crds/prometheusrule.yaml) is picked up without a restart.
//
// It is part of the server role: it must not be imported by the agent, and
// it parses no flags (cmd/panoptes binds them to Options).
package kuberules
