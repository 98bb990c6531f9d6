package state

import (
	"context"
	"log/slog"
	"strings"
	"sync"

	authorizationv1 "k8s.io/api/authorization/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kube-state-metrics/v2/pkg/options"
)

// checkAccess returns the names that the API server serves and that this
// identity may list and watch (in every namespace watched); each other one
// is disabled with one log line. When the API server cannot answer, a
// resource stays enabled: its reflector retries until it can.
func checkAccess(ctx context.Context, client kubernetes.Interface, names []string, namespaces options.NamespaceList, tr *tracker, logger *slog.Logger) []string {
	disc := discovery{client: client, served: map[string]map[string]bool{}}
	verdicts := make([]verdict, len(names))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, name := range names {
		r := resources[name]
		ok, err := disc.serves(r.group, r.version, name)
		if err != nil {
			logger.Warn("cannot ask the API server which resources it serves; keeping the resource, its watch retries", "resource", name, "err", err)
		} else if !ok {
			verdicts[i].notServed = true
			continue
		}
		nss := []string{v1.NamespaceAll}
		if r.namespaced && !namespaces.IsAllNamespaces() {
			nss = namespaces
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			verdicts[i] = reviewAccess(ctx, client, r, name, nss)
		}()
	}
	wg.Wait()
	var out []string
	for i, name := range names {
		if verdicts[i].enable(name, tr, logger) {
			out = append(out, name)
		}
	}
	return out
}

// discovery answers whether the API server serves a resource, asking once
// per group version.
type discovery struct {
	client kubernetes.Interface
	// served: group version -> resource names.
	served map[string]map[string]bool
}

// serves reports whether group/version serves name; true with the error
// when the API server cannot tell.
func (d *discovery) serves(group, version, name string) (bool, error) {
	gv := version
	if group != "" {
		gv = group + "/" + version
	}
	if m, ok := d.served[gv]; ok {
		return m[name], nil
	}
	list, err := d.client.Discovery().ServerResourcesForGroupVersion(gv)
	if apierrors.IsNotFound(err) {
		d.served[gv] = map[string]bool{}
		return false, nil
	}
	if err != nil {
		return true, err
	}
	m := map[string]bool{}
	for _, r := range list.APIResources {
		m[r.Name] = true
	}
	d.served[gv] = m
	return m[name], nil
}

// verdict is what the checks at start found about one resource.
type verdict struct {
	notServed bool
	// denied is the verb and scope RBAC forbids ("watch in namespace a").
	denied string
	// err is why RBAC could not be asked.
	err string
}

// reviewAccess asks the API server whether this identity may list and
// watch resource name (r) in each of nss (SelfSubjectAccessReview).
func reviewAccess(ctx context.Context, client kubernetes.Interface, r resource, name string, nss []string) verdict {
	for _, ns := range nss {
		for _, verb := range []string{"list", "watch"} {
			review, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: ns, Verb: verb, Group: r.group, Version: r.version, Resource: name,
				}},
			}, metav1.CreateOptions{})
			if err != nil {
				return verdict{err: err.Error()}
			}
			if !review.Status.Allowed {
				where := "cluster-wide"
				if ns != "" {
					where = "in namespace " + ns
				}
				return verdict{denied: verb + " " + where}
			}
		}
	}
	return verdict{}
}

// enable records v for resource name in tr, logs why when it is disabled,
// and reports whether it is enabled.
func (v verdict) enable(name string, tr *tracker, logger *slog.Logger) bool {
	r := resources[name]
	switch {
	case v.notServed:
		gv := strings.TrimPrefix(r.group+"/"+r.version, "/")
		logger.Warn("resource disabled: the API server does not serve it", "resource", name, "groupVersion", gv)
		tr.disable(name, "not served")
		return false
	case v.denied != "":
		logger.Warn("resource disabled: RBAC forbids this identity to "+v.denied+"; grant list and watch on it (see deploy/state) to serve its metrics",
			"resource", name, "apiGroup", r.group)
		tr.disable(name, "forbidden")
		return false
	case v.err != "":
		logger.Warn("cannot check RBAC access; keeping the resource, its watch retries", "resource", name, "err", v.err)
	}
	tr.enable(name)
	return true
}
