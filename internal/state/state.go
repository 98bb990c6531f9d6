package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	authorizationv1 "k8s.io/api/authorization/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"k8s.io/kube-state-metrics/v2/pkg/allowdenylist"
	"k8s.io/kube-state-metrics/v2/pkg/builder"
	generator "k8s.io/kube-state-metrics/v2/pkg/metric_generator"
	metricsstore "k8s.io/kube-state-metrics/v2/pkg/metrics_store"
	"k8s.io/kube-state-metrics/v2/pkg/metricshandler"
	"k8s.io/kube-state-metrics/v2/pkg/optin"
	"k8s.io/kube-state-metrics/v2/pkg/options"
	"k8s.io/kube-state-metrics/v2/pkg/sharding"
	ksmwatch "k8s.io/kube-state-metrics/v2/pkg/watch"
)

// Config is what `panoptes state` is asked to do; cmd/panoptes fills it
// from kube-state-metrics' flags.
type Config struct {
	// Kubeconfig is a kubeconfig file; empty means in-cluster (the pod's
	// ServiceAccount).
	Kubeconfig string
	// Resources to serve; empty means DefaultResources.
	Resources []string
	// Namespaces to watch (empty or [""] for all), and namespaces left out.
	Namespaces         []string
	NamespacesDenylist []string
	// LabelsAllowList and AnnotationsAllowList: resource -> keys exported
	// in kube_<resource>_labels / _annotations, as
	// --metric-labels-allowlist.
	LabelsAllowList      map[string][]string
	AnnotationsAllowList map[string][]string
	// MetricAllowlist, MetricDenylist (mutually exclusive) and MetricOptIn
	// filter families by name or regular expression.
	MetricAllowlist, MetricDenylist, MetricOptIn []string
	// Shard of TotalShards: objects whose UID hashes to another shard are
	// left to it. Pod and PodNamespace, when both set, take the shard from
	// the ordinal of the StatefulSet that owns the pod instead.
	Shard        int32
	TotalShards  int
	Pod          string
	PodNamespace string
	// CustomResourceConfig is a custom-resource-state config (YAML), as
	// kube-state-metrics' --custom-resource-state-config.
	CustomResourceConfig string
	// ListenAddress serves /metrics; TelemetryAddress serves the self
	// metrics. Empty TelemetryAddress: no telemetry server.
	ListenAddress    string
	TelemetryAddress string
	// EnableGZIP compresses /metrics for clients that accept gzip.
	EnableGZIP bool
	// KeepManagedFields keeps metadata.managedFields on decoded objects
	// (they are stripped by default: no metric reads them).
	KeepManagedFields bool

	// Registerer takes the self metrics; Gatherer serves them on the
	// telemetry address (with this package's own, which it registers).
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	Logger     *slog.Logger
}

// Addrs are the addresses the servers listen on, once they do.
type Addrs struct {
	Metrics, Telemetry net.Addr
}

// Run serves the state of the cluster until ctx ends. onListen, when not
// nil, is called once both servers listen.
func Run(ctx context.Context, cfg Config, onListen func(Addrs)) error {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	// client-go and kube-state-metrics log through klog: into our logger.
	klog.SetSlogLogger(logger)
	if cfg.Registerer == nil {
		reg := prometheus.NewRegistry()
		cfg.Registerer, cfg.Gatherer = reg, reg
	}

	restCfg, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	// As kube-state-metrics: protobuf is cheaper to decode than JSON.
	restCfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	restCfg.ContentType = "application/vnd.kubernetes.protobuf"
	restCfg.UserAgent = "panoptes-state"
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}

	names := cfg.Resources
	if len(names) == 0 {
		names = DefaultResources()
	}
	if err := CheckResources(names); err != nil {
		return err
	}
	names = dedupe(names)
	nsList := options.NamespaceList(cfg.Namespaces)
	namespaces := nsList.GetNamespaces()
	if len(namespaces) == 0 {
		namespaces = options.DefaultNamespaces
	}
	for _, ns := range cfg.NamespacesDenylist {
		if ns == "" {
			return errors.New("--namespaces-denylist: empty namespace name")
		}
	}
	fieldSelector := namespaces.GetExcludeNSFieldSelector(cfg.NamespacesDenylist)

	tr := newTracker()
	// The checks at start are a burst of small requests: not throttled to
	// client-go's default 5 per second.
	checkCfg := rest.CopyConfig(restCfg)
	checkCfg.QPS, checkCfg.Burst = 200, 200
	checkClient, err := kubernetes.NewForConfig(checkCfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	checkCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	served := checkAccess(checkCtx, checkClient, names, namespaces, tr, logger)
	cancel()

	crFactories, err := customResourceFactories(cfg.CustomResourceConfig, client, logger)
	if err != nil {
		return err
	}
	crClients := map[string]any{}
	var crNames []string
	for _, f := range crFactories {
		c, err := f.CreateClient(restCfg)
		if err != nil {
			return fmt.Errorf("custom resource %s: client: %w", f.Name(), err)
		}
		key := crKey(f.Name(), f.ExpectedType())
		crClients[key] = c
		crNames = append(crNames, key)
		tr.enable(key)
	}

	filter, err := familyFilter(cfg)
	if err != nil {
		return err
	}

	// The builder's own list-watch and sharding metrics land in a registry
	// of their own: the list-watch ones are recorded by the reflectors this
	// package starts (below) into cfg.Registerer, and the same names cannot
	// be registered twice.
	builderReg := prometheus.NewRegistry()
	lwMetrics := ksmwatch.NewListWatchMetrics(cfg.Registerer)
	sb := &storeBuilder{
		Builder:       builder.NewBuilder(),
		client:        client,
		crClients:     crClients,
		filter:        filter,
		namespaces:    namespaces,
		fieldSelector: fieldSelector,
		tracker:       tr,
		lwMetrics:     lwMetrics,
		releaser:      newReleaser(),
		strip:         !cfg.KeepManagedFields,
		logger:        logger,
	}
	sb.WithMetrics(builderReg)
	sb.WithKubeClient(client)
	sb.WithFamilyGeneratorFilter(filter)
	sb.WithNamespaces(namespaces)
	sb.WithFieldSelectorFilter(fieldSelector)
	sb.WithGenerateStoresFunc(sb.buildStores)
	sb.WithGenerateCustomResourceStoresFunc(sb.buildCustomResourceStores)
	sb.WithCustomResourceClients(crClients)
	if len(crFactories) > 0 {
		sb.WithCustomResourceStoreFactories(crFactories...)
	}
	if err := sb.WithEnabledResources(append(served, crNames...)); err != nil {
		return fmt.Errorf("resources: %w", err)
	}
	if err := sb.WithAllowLabels(cfg.LabelsAllowList); err != nil {
		return fmt.Errorf("--metric-labels-allowlist: %w", err)
	}
	if err := sb.WithAllowAnnotations(cfg.AnnotationsAllowList); err != nil {
		return fmt.Errorf("--metric-annotations-allowlist: %w", err)
	}

	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:        "http_request_duration_seconds",
		Help:        "A histogram of requests for the metrics handler (kube-state-metrics' name).",
		Buckets:     prometheus.DefBuckets,
		ConstLabels: prometheus.Labels{"handler": "metrics"},
	}, []string{"method"})
	if err := cfg.Registerer.Register(duration); err != nil {
		return fmt.Errorf("self metrics: %w", err)
	}
	if err := cfg.Registerer.Register(tr); err != nil {
		return fmt.Errorf("self metrics: %w", err)
	}

	kopts := options.NewOptions()
	kopts.Shard, kopts.TotalShards = cfg.Shard, cfg.TotalShards
	if kopts.TotalShards < 1 {
		kopts.TotalShards = 1
	}
	if kopts.Shard < 0 || int(kopts.Shard) >= kopts.TotalShards {
		return fmt.Errorf("--shard %d: must be at least 0 and less than --total-shards %d", cfg.Shard, kopts.TotalShards)
	}
	if (cfg.Pod == "") != (cfg.PodNamespace == "") {
		return errors.New("--pod and --pod-namespace go together (automatic sharding from the StatefulSet ordinal)")
	}
	kopts.Pod, kopts.Namespace = cfg.Pod, cfg.PodNamespace
	handler := metricshandler.New(kopts, client, sb, cfg.EnableGZIP)

	metricsLn, err := net.Listen("tcp", cfg.ListenAddress)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.ListenAddress, err)
	}
	servers := []*http.Server{{
		Handler:           metricsMux(promhttp.InstrumentHandlerDuration(duration, handler), client),
		ReadHeaderTimeout: 5 * time.Second,
	}}
	listeners := []net.Listener{metricsLn}
	addrs := Addrs{Metrics: metricsLn.Addr()}
	if cfg.TelemetryAddress != "" {
		telLn, err := net.Listen("tcp", cfg.TelemetryAddress)
		if err != nil {
			_ = metricsLn.Close()
			return fmt.Errorf("listen %s: %w", cfg.TelemetryAddress, err)
		}
		gatherer := prometheus.Gatherers{cfg.Gatherer, builderReg}
		servers = append(servers, &http.Server{Handler: telemetryMux(gatherer, tr), ReadHeaderTimeout: 5 * time.Second})
		listeners = append(listeners, telLn)
		addrs.Telemetry = telLn.Addr()
	}

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	errc := make(chan error, len(servers)+1)
	go func() {
		err := handler.Run(ctx)
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		errc <- err
	}()
	for i, s := range servers {
		go func() {
			err := s.Serve(listeners[i])
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}()
	}
	logger.Info("serving the state of Kubernetes objects", "metrics", addrs.Metrics.String(), "telemetry", fmt.Sprint(addrs.Telemetry),
		"resources", strings.Join(append(served, crNames...), ","))
	if onListen != nil {
		onListen(addrs)
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		if runErr == nil {
			runErr = errors.New("stopped unexpectedly")
		}
	}
	stop()
	shutdown, cancelShutdown := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancelShutdown()
	for _, s := range servers {
		_ = s.Shutdown(shutdown)
	}
	return runErr
}

func dedupe(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func familyFilter(cfg Config) (generator.FamilyGeneratorFilter, error) {
	allow, deny := options.MetricSet{}, options.MetricSet{}
	for _, m := range cfg.MetricAllowlist {
		allow[m] = struct{}{}
	}
	for _, m := range cfg.MetricDenylist {
		deny[m] = struct{}{}
	}
	ad, err := allowdenylist.New(allow, deny)
	if err != nil {
		return nil, fmt.Errorf("--metric-allowlist/--metric-denylist: %w", err)
	}
	if err := ad.Parse(); err != nil {
		return nil, fmt.Errorf("--metric-allowlist/--metric-denylist: %w", err)
	}
	in := options.MetricSet{}
	for _, m := range cfg.MetricOptIn {
		in[m] = struct{}{}
	}
	oi, err := optin.NewMetricFamilyFilter(in)
	if err != nil {
		return nil, fmt.Errorf("--metric-opt-in-list: %w", err)
	}
	return generator.NewCompositeFamilyGeneratorFilter(ad, oi), nil
}

// checkAccess returns the names that the API server serves and that this
// identity may list and watch (in every namespace watched); each other one
// is disabled with one log line. When the API server cannot answer, a
// resource stays enabled: its reflector retries until it can.
func checkAccess(ctx context.Context, client kubernetes.Interface, names []string, namespaces options.NamespaceList, tr *tracker, logger *slog.Logger) []string {
	servedGV := map[string]map[string]bool{}
	gvServes := func(group, version, name string) (bool, error) {
		gv := version
		if group != "" {
			gv = group + "/" + version
		}
		if m, ok := servedGV[gv]; ok {
			return m[name], nil
		}
		list, err := client.Discovery().ServerResourcesForGroupVersion(gv)
		if apierrors.IsNotFound(err) {
			servedGV[gv] = map[string]bool{}
			return false, nil
		}
		if err != nil {
			return true, err
		}
		m := map[string]bool{}
		for _, r := range list.APIResources {
			m[r.Name] = true
		}
		servedGV[gv] = m
		return m[name], nil
	}
	type verdict struct{ denied, err string }
	verdicts := make([]verdict, len(names))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, name := range names {
		r := resources[name]
		ok, err := gvServes(r.group, r.version, name)
		if err != nil {
			logger.Warn("cannot ask the API server which resources it serves; keeping the resource, its watch retries", "resource", name, "err", err)
		} else if !ok {
			verdicts[i].denied = "-"
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
			for _, ns := range nss {
				for _, verb := range []string{"list", "watch"} {
					review, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
						Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
							Namespace: ns, Verb: verb, Group: r.group, Version: r.version, Resource: name,
						}},
					}, metav1.CreateOptions{})
					if err != nil {
						verdicts[i].err = err.Error()
						return
					}
					if !review.Status.Allowed {
						where := "cluster-wide"
						if ns != "" {
							where = "in namespace " + ns
						}
						verdicts[i].denied = verb + " " + where
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	var out []string
	for i, name := range names {
		r := resources[name]
		switch v := verdicts[i]; {
		case v.denied == "-":
			gv := strings.TrimPrefix(r.group+"/"+r.version, "/")
			logger.Warn("resource disabled: the API server does not serve it", "resource", name, "groupVersion", gv)
			tr.disable(name, "not served")
			continue
		case v.denied != "":
			logger.Warn("resource disabled: RBAC forbids this identity to "+v.denied+"; grant list and watch on it (see deploy/state) to serve its metrics",
				"resource", name, "apiGroup", r.group)
			tr.disable(name, "forbidden")
			continue
		case v.err != "":
			logger.Warn("cannot check RBAC access; keeping the resource, its watch retries", "resource", name, "err", v.err)
		}
		tr.enable(name)
		out = append(out, name)
	}
	return out
}

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
	releaser      *releaser
	strip         bool
	logger        *slog.Logger

	mu          sync.Mutex
	ctx         context.Context
	shard       int32
	totalShards int
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
// reflector), with the tracked list-watch in the chain.
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
	for _, ns := range nss {
		store := metricsstore.NewMetricsStore(headers, compose)
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
		stores = append(stores, store)
	}
	return stores
}

// stripObject drops what no generator reads before the generators see the
// object: managedFields are often most of an object's bytes.
func stripObject(obj runtime.Object) {
	if a, err := meta.Accessor(obj); err == nil {
		a.SetManagedFields(nil)
	}
}
