// Package kubewatch holds what the server's watchers of prometheus-operator's
// custom resources (kuberules: PrometheusRule; monitors: ServiceMonitor,
// PodMonitor, Probe) share: the client config, whether the API server
// serves a resource, the Event recorder, the informers' transform, the
// one-line form of an error for logs and Events, and the loop that follows
// a resource while it is served (Resource).
package kubewatch

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"

	"github.com/panoptes-dev/panoptes/internal/option"
)

// RestConfig is the kubeconfig's client config, or the pod's in-cluster
// one when kubeconfig is empty. Its errors name the option Kubeconfig.
func RestConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, option.Invalid("Kubeconfig", "not running in a pod (%w): give a kubeconfig file", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, option.Invalid("Kubeconfig", "%w", err)
	}
	return cfg, nil
}

// Served asks the API server's discovery whether it serves the resource.
// Discovery is open to every authenticated identity (system:discovery), so
// this needs no RBAC on CRDs.
func Served(ctx context.Context, kube kubernetes.Interface, gvr schema.GroupVersionResource) (bool, error) {
	gv := gvr.GroupVersion().String()
	// The discovery client's own call takes no context; this one ends
	// with ctx, so that a watcher stops promptly when the API server hangs.
	raw, err := kube.Discovery().RESTClient().Get().AbsPath("/apis", gv).
		SetHeader("Accept", "application/json").Do(ctx).Raw()
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("discovery of %s: %w", gv, err)
	}
	var list metav1.APIResourceList
	if err := json.Unmarshal(raw, &list); err != nil {
		return false, fmt.Errorf("discovery of %s: %w", gv, err)
	}
	for _, r := range list.APIResources {
		if r.Name == gvr.Resource {
			return true, nil
		}
	}
	return false, nil
}

// NewRecorder returns an event recorder that writes Events through the API
// server, and the function that stops it. An identity without the right
// to create Events gets a log line from client-go per event, and the
// watcher works the same.
func NewRecorder(ctx context.Context, kube kubernetes.Interface) (record.EventRecorder, func()) {
	b := record.NewBroadcaster(record.WithContext(ctx))
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	return b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "panoptes-server"}), b.Shutdown
}

// DropManagedFields is the informers' transform: managedFields are most of
// a small object's bytes and are never read.
func DropManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// OneLine joins a multi-error's lines for a log line or an Event.
func OneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// slowSync is how long the first list may take before a warning.
const slowSync = 30 * time.Second

// Resource is one custom resource a watcher follows while the API server
// serves it: the selected objects, in the namespaces watched and selected,
// are handed to Update on the first list and then (debounced) on every
// change.
type Resource struct {
	Kind string // "PrometheusRule", in log lines
	GVR  schema.GroupVersionResource
	// Gives is what the objects become, in log lines: "rules".
	Gives string
	// Selector selects the objects; NamespaceSelector their namespaces
	// (empty: every namespace) within Namespaces (none: all).
	Selector, NamespaceSelector labels.Selector
	Namespaces                  []string

	Dyn    dynamic.Interface
	Kube   kubernetes.Interface
	Logger *slog.Logger
	// Retry is how often the resource's presence is checked; Debounce
	// how long changes are gathered before Update.
	Retry, Debounce time.Duration

	// SetServed is told whether the API server serves the resource.
	SetServed func(bool)
	// Update turns the selected objects into the watcher's result and
	// reports whether that changed.
	Update func(ctx context.Context, objs []*unstructured.Unstructured) bool
	// Clear drops the result because the resource is not served (removed:
	// it went away while watched) and reports whether that changed.
	Clear func(removed bool) bool
}

// Run follows the resource until ctx is done, calling onChange after each
// Update or Clear that changed the result. A resource that is not served
// is logged once and looked for again every Retry.
func (r *Resource) Run(ctx context.Context, onChange func()) {
	absentLogged := false
	for {
		served, err := Served(ctx, r.Kube, r.GVR)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			r.Logger.Warn("cannot tell whether the API server serves "+r.Kind+" objects; retrying",
				"resource", r.GVR.String(), "retry", r.Retry, "err", err)
		case !served:
			r.SetServed(false)
			if !absentLogged {
				r.Logger.Info(r.Kind+" CRD not found; no "+r.Gives+" from "+r.Kind+" objects until it is installed (looked for again every "+r.Retry.String()+")",
					"resource", r.GVR.String())
				absentLogged = true
			}
			if r.Clear(false) {
				onChange()
			}
		default:
			r.SetServed(true)
			if absentLogged {
				r.Logger.Info(r.Kind+" CRD found; watching "+r.Kind+" objects", "resource", r.GVR.String())
			}
			r.watch(ctx, onChange)
			if ctx.Err() != nil {
				return
			}
			// The CRD went away: its objects with it.
			r.SetServed(false)
			r.Logger.Info(r.Kind+" CRD removed; the "+r.Gives+" from "+r.Kind+" objects are dropped", "resource", r.GVR.String())
			absentLogged = true
			if r.Clear(true) {
				onChange()
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(r.Retry):
		}
	}
}

// watch runs the informers while the resource is served, calling Update
// (debounced) on every change, and returns when ctx is done or the
// resource is no longer served.
func (r *Resource) watch(ctx context.Context, onChange func()) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	changed := make(chan struct{}, 1)
	kick := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { kick() },
		UpdateFunc: func(any, any) { kick() },
		DeleteFunc: func(any) { kick() },
	}
	selectObjects := func(lo *metav1.ListOptions) { lo.LabelSelector = r.Selector.String() }
	namespaces := r.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	var (
		stores    []cache.Store
		hasSynced []cache.InformerSynced
		shutdowns []func()
	)
	add := func(inf cache.SharedIndexInformer, start func(<-chan struct{}), shutdown func()) cache.Store {
		_ = inf.SetTransform(DropManagedFields)
		if _, err := inf.AddEventHandler(handler); err != nil {
			r.Logger.Error("BUG: informer rejected its handler", "kind", r.Kind, "err", err)
		}
		hasSynced = append(hasSynced, inf.HasSynced)
		start(ctx.Done())
		shutdowns = append(shutdowns, shutdown)
		return inf.GetStore()
	}
	for _, ns := range namespaces {
		f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(r.Dyn, 0, ns, selectObjects)
		inf := f.ForResource(r.GVR).Informer()
		stores = append(stores, add(inf, f.Start, f.Shutdown))
	}
	var nsStore cache.Store
	if !r.NamespaceSelector.Empty() {
		// The server filters namespaces by the selector: the store holds
		// the selected namespaces only.
		f := informers.NewSharedInformerFactoryWithOptions(r.Kube, 0,
			informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = r.NamespaceSelector.String() }))
		inf := f.Core().V1().Namespaces().Informer()
		nsStore = add(inf, f.Start, f.Shutdown)
	}
	defer func() {
		cancel()
		for _, s := range shutdowns {
			s()
		}
	}()

	synced := make(chan struct{})
	go func() {
		if cache.WaitForCacheSync(ctx.Done(), hasSynced...) {
			close(synced)
		}
	}()
	update := func() {
		if r.Update(ctx, r.selected(stores, nsStore)) {
			onChange()
		}
	}

	check := time.NewTicker(r.Retry)
	defer check.Stop()
	// A list that does not complete is most often RBAC: client-go logs
	// each failed attempt through klog; this says what to grant, once.
	slow := time.NewTimer(slowSync)
	defer slow.Stop()
	var (
		debounce  <-chan time.Time
		isSynced  bool
		syncStart = time.Now()
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-slow.C:
			if !isSynced {
				need := "list and watch " + r.GVR.GroupResource().String()
				if !r.NamespaceSelector.Empty() {
					need += ", and list and watch namespaces"
				}
				r.Logger.Warn(r.Kind+" objects not listed yet; check that this identity may "+need+" (in the namespaces watched)",
					"waited", slowSync, "namespaces", strings.Join(r.Namespaces, ","))
			}
		case <-synced:
			synced = nil
			isSynced = true
			r.Logger.Info(r.Kind+" objects listed", "took", time.Since(syncStart).Round(time.Millisecond))
			update()
		case <-changed:
			if isSynced && debounce == nil {
				debounce = time.After(r.Debounce)
			}
		case <-debounce:
			debounce = nil
			update()
		case <-check.C:
			if served, err := Served(ctx, r.Kube, r.GVR); err == nil && !served {
				return
			}
		}
	}
}

// selected are the stores' objects that the selector matches, in the
// namespaces nsStore holds (every one when nsStore is nil).
func (r *Resource) selected(stores []cache.Store, nsStore cache.Store) []*unstructured.Unstructured {
	var objs []*unstructured.Unstructured
	for _, s := range stores {
		for _, item := range s.List() {
			u, ok := item.(*unstructured.Unstructured)
			if !ok || !r.Selector.Matches(labels.Set(u.GetLabels())) {
				continue
			}
			if nsStore != nil {
				if _, exists, _ := nsStore.GetByKey(u.GetNamespace()); !exists {
					continue
				}
			}
			objs = append(objs, u)
		}
	}
	return objs
}
