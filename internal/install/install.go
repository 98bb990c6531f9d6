package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/panoptes-dev/panoptes/deploy"
)

var apiServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// Run renders deploy/'s objects for o and prints them to w (client dry
// run) or applies them, writing one line per object to w as kubectl does.
// First it checks the cluster's metrics API (see checkMetricsAPI).
func Run(ctx context.Context, w io.Writer, o *Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	objs, err := Render(deploy.Manifest, o)
	if err != nil {
		return fmt.Errorf("render deploy/: %w", err)
	}
	var dyn dynamic.Interface
	var cfg *rest.Config
	// The cluster is needed to apply, and, without
	// --replace-metrics-server, to look for another metrics API before
	// printing too.
	needCluster := o.DryRun != DryRunClient || (o.hasRole("metrics-api") && !o.ReplaceMetricsServer)
	if needCluster {
		cfg, err = o.restConfig()
		if err == nil {
			dyn, err = dynamic.NewForConfig(cfg)
		}
		if err != nil {
			if o.hasRole("metrics-api") && !o.ReplaceMetricsServer {
				return fmt.Errorf("cannot check the cluster for another metrics API (APIService %s): %w; rerun with --replace-metrics-server to replace it without checking", metricsAPIServiceName, err)
			}
			return fmt.Errorf("kubeconfig: %w", err)
		}
	}
	if o.hasRole("metrics-api") && !o.ReplaceMetricsServer {
		if err := checkMetricsAPI(ctx, dyn, o); err != nil {
			return err
		}
	}
	if o.DryRun == DryRunClient {
		return WriteYAML(w, objs)
	}
	return apply(ctx, w, cfg, dyn, objs, o)
}

// restConfig loads the kubeconfig as kubectl does.
func (o *Options) restConfig() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.Kubeconfig != "" {
		rules.ExplicitPath = o.Kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.Context}).ClientConfig()
	if err != nil {
		return nil, err
	}
	cfg.Timeout = o.Timeout
	cfg.UserAgent = "panoptes-install"
	return cfg, nil
}

// checkMetricsAPI refuses to go on when the APIService
// v1beta1.metrics.k8s.io exists and points elsewhere than our metrics API's
// Service: applying ours would take metrics.k8s.io (kubectl top, the HPA)
// away from metrics-server, or whoever serves it, which must be asked for.
// A cluster that cannot be asked is refused too.
func checkMetricsAPI(ctx context.Context, dyn dynamic.Interface, o *Options) error {
	as, err := dyn.Resource(apiServiceGVR).Get(ctx, metricsAPIServiceName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("cannot check the cluster for another metrics API (APIService %s): %w; rerun with --replace-metrics-server to replace it without checking", metricsAPIServiceName, err)
	}
	ns, _, _ := unstructured.NestedString(as.Object, "spec", "service", "namespace")
	name, _, _ := unstructured.NestedString(as.Object, "spec", "service", "name")
	if ns == o.Namespace && name == metricsAPIService {
		return nil
	}
	by := "the API server itself (no spec.service)"
	if name != "" {
		by = "the Service " + ns + "/" + name
	}
	return fmt.Errorf("the cluster's metrics API, APIService %s, is served by %s, not by panoptes (%s): "+
		"rerun with --replace-metrics-server to point it at panoptes' metrics API; "+
		"metrics-server's Deployment (usually kube-system/metrics-server) can then be deleted",
		metricsAPIServiceName, by, o.metricsService())
}

// apply sends each object as a server-side apply patch, in the manifest's
// order (kustomize's: the Namespace first, then ServiceAccounts and RBAC,
// ConfigMaps, Services, workloads), and goes on past
// failures as kubectl does, returning them together.
func apply(ctx context.Context, w io.Writer, cfg *rest.Config, dyn dynamic.Interface, objs []*unstructured.Unstructured, o *Options) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	// One question first, so that a cluster out of reach is one error, not
	// one per object.
	if _, err := dc.ServerVersion(); err != nil {
		return fmt.Errorf("cannot reach the API server: %w", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	suffix := ""
	var dryRun []string
	if o.DryRun == DryRunServer {
		suffix, dryRun = " (server dry run)", []string{metav1.DryRunAll}
	}
	var errs []error
	for _, u := range objs {
		gvk := u.GroupVersionKind()
		id := strings.ToLower(gvk.Kind)
		if gvk.Group != "" {
			id += "." + gvk.Group
		}
		id += "/" + u.GetName()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
			continue
		}
		ri := dynamic.ResourceInterface(dyn.Resource(m.Resource))
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ri = dyn.Resource(m.Resource).Namespace(u.GetNamespace())
		}
		body, err := json.Marshal(u.Object)
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		// The APIService is forced with --replace-metrics-server: its
		// fields are metrics-server's manager's until taken over.
		force := o.ForceConflicts || (o.ReplaceMetricsServer && gvk.Kind == "APIService")
		_, err = ri.Patch(ctx, u.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{
			FieldManager: FieldManager, Force: &force, DryRun: dryRun,
		})
		if err != nil {
			if apierrors.IsConflict(err) {
				err = fmt.Errorf("%w (another field manager owns these fields: rerun with --force-conflicts to take them over)", err)
			}
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
			continue
		}
		if _, err := fmt.Fprintf(w, "%s serverside-applied%s\n", id, suffix); err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d objects not applied: %w", len(errs), len(objs), errors.Join(errs...))
	}
	return nil
}
