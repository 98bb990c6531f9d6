// Package state is `panoptes state`: the state of Kubernetes objects as
// metrics, compatible by name, labels, types and values with
// kube-state-metrics, whose generators it runs as a library
// (k8s.io/kube-state-metrics/v2/pkg/builder, metricshandler,
// customresourcestate). What it adds around them: a check at start that the
// API server serves each resource and that RBAC lets this identity list and
// watch it (a resource that is not served or forbidden is disabled with one
// log line instead of a reflector failing forever), a staleness gauge per
// resource while the API server is away, and the least RBAC rules for a set
// of resources (deploy/state is checked against them).
//
// As in kube-state-metrics, an object's metrics are rendered to bytes when
// the object is added or updated and the objects themselves are not kept:
// a scrape writes pre-rendered bytes. The store is ours (familystore.go):
// the same bytes laid out family by family in segments of objects, so that
// a scrape is a few large copies per family rather than one per object and
// family, and /metrics is served from it (exposition.go) while
// kube-state-metrics' handler runs the builds and the sharding.
//
// It must not be imported by the agent build (client-go stays out of
// `-tags agentonly`), and flags are parsed in cmd/panoptes, not here.
package state
