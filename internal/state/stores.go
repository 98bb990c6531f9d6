package state

import (
	"context"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/kube-state-metrics/v2/pkg/builder"
	generator "k8s.io/kube-state-metrics/v2/pkg/metric_generator"
	metricsstore "k8s.io/kube-state-metrics/v2/pkg/metrics_store"
	"k8s.io/kube-state-metrics/v2/pkg/options"
	"k8s.io/kube-state-metrics/v2/pkg/sharding"
	ksmwatch "k8s.io/kube-state-metrics/v2/pkg/watch"
)

// storeBuilder is kube-state-metrics' builder with stores of our own: the
// same metric stores and generators, fed by reflectors whose list-watches
// report to the staleness tracker and strip managedFields.
type storeBuilder struct {
	*builder.Builder
	client        kubernetes.Interface
	crClients     map[string]any
	filter        generator.FamilyGeneratorFilter
	namespaces    options.NamespaceList
	fieldSelector string
	tracker       *tracker
	lwMetrics     *ksmwatch.ListWatchMetrics
	// metrics is the builder's own registry, served on the telemetry
	// address.
	metrics  *prometheus.Registry
	releaser *releaser
	strip    bool
	logger   *slog.Logger

	// exposition serves the stores of the latest Build; building collects
	// them during a Build.
	exposition *exposition

	mu          sync.Mutex
	ctx         context.Context
	shard       int32
	totalShards int
	building    []resourceWriter
}

// WithSharding records the shard for the reflectors started next (the
// metrics handler calls it, again on automatic resharding).
func (b *storeBuilder) WithSharding(shard int32, totalShards int) {
	b.mu.Lock()
	b.shard, b.totalShards = shard, totalShards
	b.mu.Unlock()
	b.Builder.WithSharding(shard, totalShards)
}

// WithContext records the context that stops the reflectors started next.
func (b *storeBuilder) WithContext(ctx context.Context) {
	b.mu.Lock()
	b.ctx = ctx
	b.mu.Unlock()
	b.Builder.WithContext(ctx)
}

// kindResource maps the Go type a built-in store expects to its resource.
var kindResource = func() map[string]string {
	m := map[string]string{}
	for name, r := range resources {
		m[r.kind] = name
	}
	return m
}()

func (b *storeBuilder) buildStores(families []generator.FamilyGenerator, expectedType any,
	listWatch func(kubernetes.Interface, string, string) cache.ListerWatcher, useAPIServerCache bool, limit int64,
) []cache.Store {
	t := reflect.TypeOf(expectedType)
	kind := t.String()
	if t.Kind() == reflect.Pointer {
		kind = t.Elem().Name()
	}
	name, ok := kindResource[kind]
	if !ok {
		name = t.String()
	}
	nss := b.namespaces
	if r, ok := resources[name]; (ok && !r.namespaced) || nss.IsAllNamespaces() {
		nss = options.NamespaceList{v1.NamespaceAll}
	}
	return b.startStores(name, families, expectedType, func(ns string) cache.ListerWatcher {
		return listWatch(b.client, ns, b.fieldSelector)
	}, nss, useAPIServerCache, limit, b.client)
}

func crKey(name string, expectedType any) string {
	if u, ok := expectedType.(interface {
		GetAPIVersion() string
	}); ok {
		g, v, found := strings.Cut(u.GetAPIVersion(), "/")
		if !found {
			g, v = "core", g
		}
		return g + "/" + v + ", Resource=" + name
	}
	return name
}

func (b *storeBuilder) buildCustomResourceStores(name string, families []generator.FamilyGenerator, expectedType any,
	listWatch func(any, string, string) cache.ListerWatcher, useAPIServerCache bool, limit int64,
) []cache.Store {
	key := crKey(name, expectedType)
	client, ok := b.crClients[key]
	if !ok {
		b.logger.Warn("custom resource has no client; not served", "resource", key)
		b.record(key, nil, nil)
		return nil
	}
	nss := b.namespaces
	if nss.IsAllNamespaces() {
		nss = options.NamespaceList{v1.NamespaceAll}
	}
	return b.startStores(key, families, expectedType, func(ns string) cache.ListerWatcher {
		return listWatch(client, ns, b.fieldSelector)
	}, nss, useAPIServerCache, limit, client)
}

// startStores does what kube-state-metrics' builder does for one resource
// (a metrics store per namespace, fed by a sharded, instrumented
// reflector), with the tracked list-watch in the chain and our family
// stores (recorded for the exposition) in place of kube-state-metrics'.
// It returns an empty kube-state-metrics store per namespace, which its
// builder requires and nothing reads.
func (b *storeBuilder) startStores(name string, families []generator.FamilyGenerator, expectedType any,
	listWatch func(ns string) cache.ListerWatcher, nss options.NamespaceList, useAPIServerCache bool, limit int64, client any,
) []cache.Store {
	families = generator.FilterFamilyGenerators(b.filter, families)
	compose := generator.ComposeMetricGenFuncs(families)
	headers := generator.ExtractMetricFamilyHeaders(families)
	b.mu.Lock()
	ctx, shard, total := b.ctx, b.shard, b.totalShards
	b.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	if total < 1 {
		total = 1
	}
	stores := make([]cache.Store, 0, len(nss))
	ours := make([]*familyStore, 0, len(nss))
	for _, ns := range nss {
		store := newFamilyStore(headers, compose)
		var lw cache.ListerWatcher = &trackedListWatch{lw: listWatch(ns), name: name, tracker: b.tracker, strip: b.strip}
		lw = ksmwatch.NewInstrumentedListerWatcher(lw, b.lwMetrics, reflect.TypeOf(expectedType).String(), useAPIServerCache, limit, client)
		lw = sharding.NewShardedListWatch(shard, total, lw)
		r := cache.NewReflectorWithOptions(lw, expectedType, releasingStore{store, b.releaser}, cache.ReflectorOptions{
			Name: "state/" + name,
			// Back at most 10 s apart (client-go's default is 30 s): the
			// state resumes sooner once the API server is back.
			Backoff: &wait.Backoff{Duration: 500 * time.Millisecond, Cap: 10 * time.Second, Steps: 40, Factor: 2, Jitter: 0.5},
		})
		go r.Run(ctx.Done())
		ours = append(ours, store)
		stores = append(stores, metricsstore.NewMetricsStore(headers, nil))
	}
	b.record(name, headers, ours)
	return stores
}

// scrubObject readies an object for the generators. With stripManaged it
// drops what no generator reads: managedFields are often most of an
// object's bytes. Whatever the options say, it drops a Secret's
// kubectl.kubernetes.io/last-applied-configuration annotation: `kubectl
// apply` of a Secret stores the whole manifest there, its data in base64,
// and --metric-annotations-allowlist=secrets=[*] would export it as a label
// of kube_secret_annotations to anyone who can scrape or query the metrics.
// (kube-state-metrics v2.20.0 exports it.) A Secret read as unstructured
// (a custom-resource-state config naming v1 Secret) loses it too.
func scrubObject(obj runtime.Object, stripManaged bool) {
	a, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	if stripManaged {
		a.SetManagedFields(nil)
	}
	if !isSecret(obj) {
		return
	}
	if ann := a.GetAnnotations(); ann != nil {
		if _, ok := ann[v1.LastAppliedConfigAnnotation]; ok {
			delete(ann, v1.LastAppliedConfigAnnotation)
			a.SetAnnotations(ann)
		}
	}
}

// isSecret reports whether obj is a core v1 Secret, typed or unstructured.
func isSecret(obj runtime.Object) bool {
	if _, ok := obj.(*v1.Secret); ok {
		return true
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	return gvk.Group == "" && gvk.Version == "v1" && gvk.Kind == "Secret"
}
