package kuberules

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql/parser"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/panoptes-dev/panoptes/internal/option"
	"github.com/panoptes-dev/panoptes/internal/server/kubewatch"
)

// IdentifierPrefix starts the identifier of every rule file a Watcher
// gives: "prometheusrule/<namespace>/<name>". Namespaces and names cannot
// hold a slash, so identifiers never collide (prometheus-operator adds the
// object's UID to its file names because it joins them with dashes).
const IdentifierPrefix = "prometheusrule/"

// PrometheusRules is the resource watched.
var PrometheusRules = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "prometheusrules"}

// Defaults of the Watcher's timing; tests shorten crdRetry.
const (
	defaultCRDRetry = time.Minute
	defaultDebounce = time.Second
	// slowSync is how long the first list may take before a warning.
	slowSync = 30 * time.Second
)

// Watcher keeps the rule files of the selected PrometheusRule objects. Its
// methods are safe for concurrent use; Run is called once.
type Watcher struct {
	opts     Options
	ruleSel  labels.Selector
	nsSel    labels.Selector
	logger   *slog.Logger
	dyn      dynamic.Interface
	kube     kubernetes.Interface
	parser   parser.Parser
	gvr      schema.GroupVersionResource
	crdRetry time.Duration
	debounce time.Duration

	invalidGauge *prometheus.GaugeVec
	filesGauge   prometheus.Gauge
	crdPresent   prometheus.Gauge

	mu     sync.Mutex
	files  map[string][]byte
	synced bool
	// invalid are the objects (namespace/name) the gauge reports.
	invalid map[string]bool
	// cache holds each object's conversion by namespace/name, reused
	// while its UID and resourceVersion stay the same, so that an update
	// of one object does not parse all of them again.
	cache map[string]converted
}

// converted is one object's rule file, or why it has none.
type converted struct {
	uid             types.UID
	resourceVersion string
	content         []byte
	err             error
}

// New returns a Watcher for o (which Validate accepted). It reads the
// kubeconfig but does not contact the API server: Run does. Its metrics
// are registered with reg when reg is not nil.
func New(o *Options, logger *slog.Logger, reg prometheus.Registerer) (*Watcher, error) {
	ruleSel, err := labels.Parse(o.LabelSelector)
	if err != nil {
		return nil, option.Invalid("LabelSelector", "%q is not a label selector: %w", o.LabelSelector, err)
	}
	nsSel, err := labels.Parse(o.NamespaceSelector)
	if err != nil {
		return nil, option.Invalid("NamespaceSelector", "%q is not a label selector: %w", o.NamespaceSelector, err)
	}
	cfg, err := kubewatch.RestConfig(o.Kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = "panoptes-server"
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	w := &Watcher{
		opts:     *o,
		ruleSel:  ruleSel,
		nsSel:    nsSel,
		logger:   logger,
		dyn:      dyn,
		kube:     kube,
		parser:   parser.NewParser(parser.Options{}),
		gvr:      PrometheusRules,
		crdRetry: defaultCRDRetry,
		debounce: defaultDebounce,
		files:    map[string][]byte{},
		cache:    map[string]converted{},
		invalid:  map[string]bool{},
		invalidGauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "panoptes_prometheusrule_invalid",
			Help: "1 for each selected PrometheusRule object whose spec is not a valid rule file and is therefore not loaded.",
		}, []string{"namespace", "name"}),
		filesGauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "panoptes_prometheusrule_files",
			Help: "Number of PrometheusRule objects selected and loaded as rule files.",
		}),
		crdPresent: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "panoptes_prometheusrule_crd_present",
			Help: "1 when the API server serves the PrometheusRule resource (monitoring.coreos.com/v1), 0 when its CRD is not installed.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{w.invalidGauge, w.filesGauge, w.crdPresent} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register PrometheusRule metrics: %w", err)
			}
		}
	}
	return w, nil
}

// Files returns the current rule files: identifier
// ("prometheusrule/<namespace>/<name>") -> content of a Prometheus rule
// file. The map is the caller's; the contents must not be modified.
func (w *Watcher) Files() map[string][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.files)
}

// Synced reports whether the first list of the objects completed (or the
// API server was found not to serve PrometheusRule at all, which is a
// complete answer too: no files).
func (w *Watcher) Synced() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.synced
}

// Run watches until ctx is done. onChange (which may be nil) is called,
// debounced, after the set of rule files or a file's content changed; it
// runs on Run's goroutine and should only schedule a reload. A cluster
// without the PrometheusRule CRD is logged once and looked at again every
// minute; Run returns nil when ctx is done.
func (w *Watcher) Run(ctx context.Context, onChange func()) error {
	if onChange == nil {
		onChange = func() {}
	}
	recorder, stop := kubewatch.NewRecorder(ctx, w.kube)
	defer stop()
	absentLogged := false
	for {
		served, err := kubewatch.Served(ctx, w.kube, w.gvr)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			w.logger.Warn("cannot tell whether the API server serves PrometheusRule objects; retrying",
				"resource", w.gvr.String(), "retry", w.crdRetry, "err", err)
		case !served:
			w.crdPresent.Set(0)
			if !absentLogged {
				w.logger.Info("PrometheusRule CRD not found; no rules from PrometheusRule objects until it is installed (looked for again every "+w.crdRetry.String()+")",
					"resource", w.gvr.String())
				absentLogged = true
			}
			if w.setFiles(map[string][]byte{}) {
				onChange()
			}
		default:
			w.crdPresent.Set(1)
			if absentLogged {
				w.logger.Info("PrometheusRule CRD found; watching PrometheusRule objects", "resource", w.gvr.String())
			}
			w.watch(ctx, recorder, onChange)
			if ctx.Err() != nil {
				return nil
			}
			// The CRD went away: its objects with it.
			w.crdPresent.Set(0)
			w.logger.Info("PrometheusRule CRD removed; rules from PrometheusRule objects unloaded", "resource", w.gvr.String())
			absentLogged = true
			w.forget()
			if w.setFiles(map[string][]byte{}) {
				onChange()
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(w.crdRetry):
		}
	}
}

// watch runs the informers while the resource is served, recomputing the
// files (debounced) on every change, and returns when ctx is done or the
// resource is no longer served.
func (w *Watcher) watch(ctx context.Context, recorder record.EventRecorder, onChange func()) {
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
	selectRules := func(lo *metav1.ListOptions) { lo.LabelSelector = w.ruleSel.String() }
	namespaces := w.opts.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	var (
		stores    []cache.Store
		hasSynced []cache.InformerSynced
		shutdowns []func()
	)
	for _, ns := range namespaces {
		f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(w.dyn, 0, ns, selectRules)
		inf := f.ForResource(w.gvr).Informer()
		// managedFields are most of a small object's bytes and are never read.
		_ = inf.SetTransform(kubewatch.DropManagedFields)
		if _, err := inf.AddEventHandler(handler); err != nil {
			w.logger.Error("BUG: PrometheusRule informer rejected its handler", "err", err)
		}
		stores = append(stores, inf.GetStore())
		hasSynced = append(hasSynced, inf.HasSynced)
		f.Start(ctx.Done())
		shutdowns = append(shutdowns, f.Shutdown)
	}
	var nsStore cache.Store
	if !w.nsSel.Empty() {
		// The server filters namespaces by the selector: the store holds
		// the selected namespaces only.
		f := informers.NewSharedInformerFactoryWithOptions(w.kube, 0,
			informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = w.nsSel.String() }))
		inf := f.Core().V1().Namespaces().Informer()
		_ = inf.SetTransform(kubewatch.DropManagedFields)
		if _, err := inf.AddEventHandler(handler); err != nil {
			w.logger.Error("BUG: namespace informer rejected its handler", "err", err)
		}
		nsStore = inf.GetStore()
		hasSynced = append(hasSynced, inf.HasSynced)
		f.Start(ctx.Done())
		shutdowns = append(shutdowns, f.Shutdown)
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

	check := time.NewTicker(w.crdRetry)
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
				need := "list and watch " + w.gvr.GroupResource().String()
				if !w.nsSel.Empty() {
					need += ", and list and watch namespaces"
				}
				w.logger.Warn("PrometheusRule objects not listed yet; check that this identity may "+need+" (in the namespaces watched)",
					"waited", slowSync, "namespaces", strings.Join(w.opts.Namespaces, ","))
			}
		case <-synced:
			synced = nil
			isSynced = true
			w.logger.Info("PrometheusRule objects listed", "took", time.Since(syncStart).Round(time.Millisecond))
			if w.recompute(stores, nsStore, recorder) {
				onChange()
			}
		case <-changed:
			if isSynced && debounce == nil {
				debounce = time.After(w.debounce)
			}
		case <-debounce:
			debounce = nil
			if w.recompute(stores, nsStore, recorder) {
				onChange()
			}
		case <-check.C:
			if served, err := kubewatch.Served(ctx, w.kube, w.gvr); err == nil && !served {
				return
			}
		}
	}
}

// recompute builds the rule files from the informers' stores and reports
// whether they differ from the current ones.
func (w *Watcher) recompute(stores []cache.Store, nsStore cache.Store, recorder record.EventRecorder) bool {
	files := map[string][]byte{}
	seen := map[string]bool{}
	invalid := map[string]bool{}
	for _, s := range stores {
		for _, item := range s.List() {
			u, ok := item.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			ns, name := u.GetNamespace(), u.GetName()
			if !w.ruleSel.Matches(labels.Set(u.GetLabels())) {
				continue
			}
			if nsStore != nil {
				if _, exists, _ := nsStore.GetByKey(ns); !exists {
					continue
				}
			}
			key := ns + "/" + name
			seen[key] = true
			c := w.convert(key, u, recorder)
			if c.err != nil {
				w.invalidGauge.WithLabelValues(ns, name).Set(1)
				invalid[key] = true
				continue
			}
			files[IdentifierPrefix+key] = c.content
		}
	}
	for key := range w.invalid {
		if !invalid[key] {
			ns, name, _ := strings.Cut(key, "/")
			w.invalidGauge.DeleteLabelValues(ns, name)
		}
	}
	w.invalid = invalid
	w.mu.Lock()
	for key := range w.cache {
		if !seen[key] {
			delete(w.cache, key)
		}
	}
	w.mu.Unlock()
	w.filesGauge.Set(float64(len(files)))
	return w.setFiles(files)
}

// convert returns the object's rule file, from the cache while the object
// is unchanged; a new invalid version is reported once.
func (w *Watcher) convert(key string, u *unstructured.Unstructured, recorder record.EventRecorder) converted {
	w.mu.Lock()
	c, ok := w.cache[key]
	w.mu.Unlock()
	if ok && c.uid == u.GetUID() && c.resourceVersion == u.GetResourceVersion() {
		return c
	}
	c = converted{uid: u.GetUID(), resourceVersion: u.GetResourceVersion()}
	c.content, c.err = ruleFile(u.Object["spec"], w.parser, w.logger)
	if c.err != nil {
		w.logger.Warn("PrometheusRule is not a valid rule file; left out, the other rules still load",
			"namespace", u.GetNamespace(), "name", u.GetName(), "err", kubewatch.OneLine(c.err))
		if u.GetAPIVersion() == "" || u.GetKind() == "" {
			u = u.DeepCopy()
			u.SetAPIVersion(w.gvr.GroupVersion().String())
			u.SetKind("PrometheusRule")
		}
		recorder.Eventf(u, corev1.EventTypeWarning, "InvalidConfiguration",
			"PrometheusRule %s was rejected: not a valid Prometheus rule file: %s", u.GetName(), kubewatch.OneLine(c.err))
	}
	w.mu.Lock()
	w.cache[key] = c
	w.mu.Unlock()
	return c
}

// forget drops what is known of the objects: their resource is gone.
func (w *Watcher) forget() {
	w.invalidGauge.Reset()
	w.invalid = map[string]bool{}
	w.filesGauge.Set(0)
	w.mu.Lock()
	w.cache = map[string]converted{}
	w.mu.Unlock()
}

// setFiles replaces the files and marks the watcher synced; it reports
// whether the files changed.
func (w *Watcher) setFiles(files map[string][]byte) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.synced = true
	if maps.EqualFunc(w.files, files, bytes.Equal) {
		return false
	}
	w.files = files
	return true
}
