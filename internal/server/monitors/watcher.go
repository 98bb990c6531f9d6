package monitors

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"

	"github.com/panoptes-dev/panoptes/internal/option"
	"github.com/panoptes-dev/panoptes/internal/server/kubewatch"
)

// The resources watched.
var (
	ServiceMonitors = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"}
	PodMonitors     = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "podmonitors"}
	Probes          = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "probes"}
)

// Defaults of the Watcher's timing; tests shorten crdRetry.
const (
	defaultCRDRetry = time.Minute
	defaultDebounce = time.Second
	// refTimeout bounds one read of a Secret or ConfigMap.
	refTimeout = 10 * time.Second
)

// kind is one of the three resources and its selectors.
type kind struct {
	name  string // ServiceMonitor
	gvr   schema.GroupVersionResource
	sel   labels.Selector
	nsSel labels.Selector
	// prefix starts the identifiers of its objects' jobs, as the job
	// names do: "serviceMonitor/".
	prefix string
}

// Watcher keeps the scrape jobs of the selected monitors. Its methods are
// safe for concurrent use; Run is called once.
type Watcher struct {
	opts     Options
	logger   *slog.Logger
	dyn      dynamic.Interface
	kube     kubernetes.Interface
	gen      Generator
	kinds    []*kind
	crdRetry time.Duration
	debounce time.Duration

	invalidGauge *prometheus.GaugeVec
	jobsGauge    *prometheus.GaugeVec
	crdPresent   *prometheus.GaugeVec

	mu sync.Mutex
	// jobs are each object's scrape configs (a YAML list) by identifier,
	// "<kind prefix><namespace>/<name>".
	jobs   map[string][]byte
	synced map[string]bool
	// reported are the invalid objects' identifiers and the
	// resourceVersion last reported, so that a version is reported once.
	reported map[string]string
}

// New returns a Watcher for o (which Validate accepted). It reads the
// kubeconfig but does not contact the API server: Run does. Its metrics
// are registered with reg when reg is not nil.
func New(o *Options, logger *slog.Logger, reg prometheus.Registerer) (*Watcher, error) {
	if err := o.Validate(); err != nil {
		return nil, err
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
	kubeconfig := o.Kubeconfig
	if kubeconfig != "" {
		// The scrape manager's discovery reads it later, from wherever
		// the server runs.
		if kubeconfig, err = filepath.Abs(kubeconfig); err != nil {
			return nil, option.Invalid("Kubeconfig", "%w", err)
		}
	}
	mustParse := func(s string) labels.Selector {
		sel, _ := labels.Parse(s) // Validate parsed it
		return sel
	}
	w := &Watcher{
		opts:   *o,
		logger: logger,
		dyn:    dyn,
		kube:   kube,
		gen:    Generator{Role: o.Role, Kubeconfig: kubeconfig},
		kinds: []*kind{
			{name: KindServiceMonitor, gvr: ServiceMonitors, sel: mustParse(o.ServiceMonitorSelector), nsSel: mustParse(o.ServiceMonitorNamespaceSelector), prefix: "serviceMonitor/"},
			{name: KindPodMonitor, gvr: PodMonitors, sel: mustParse(o.PodMonitorSelector), nsSel: mustParse(o.PodMonitorNamespaceSelector), prefix: "podMonitor/"},
			{name: KindProbe, gvr: Probes, sel: mustParse(o.ProbeSelector), nsSel: mustParse(o.ProbeNamespaceSelector), prefix: "probe/"},
		},
		crdRetry: defaultCRDRetry,
		debounce: defaultDebounce,
		jobs:     map[string][]byte{},
		synced:   map[string]bool{},
		reported: map[string]string{},
		invalidGauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "panoptes_monitor_invalid",
			Help: "1 for each selected ServiceMonitor, PodMonitor or Probe that cannot be converted to scrape jobs and is therefore left out.",
		}, []string{"kind", "namespace", "name"}),
		jobsGauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "panoptes_monitor_objects",
			Help: "Number of selected ServiceMonitor, PodMonitor and Probe objects converted to scrape jobs, by kind.",
		}, []string{"kind"}),
		crdPresent: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "panoptes_monitor_crd_present",
			Help: "1 when the API server serves the kind (monitoring.coreos.com/v1), 0 when its CRD is not installed.",
		}, []string{"kind"}),
	}
	w.gen.Refs = &apiRefs{kube: kube}
	if reg != nil {
		for _, c := range []prometheus.Collector{w.invalidGauge, w.jobsGauge, w.crdPresent} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register monitor metrics: %w", err)
			}
		}
	}
	return w, nil
}

// ScrapeConfigs returns the current jobs: identifier
// ("serviceMonitor/<namespace>/<name>", "podMonitor/...", "probe/...") ->
// a YAML list of scrape configs (ParseScrapeConfigs reads it). The map is
// the caller's; the contents must not be modified.
func (w *Watcher) ScrapeConfigs() map[string][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.jobs)
}

// Synced reports whether the first list of every kind completed (or its
// CRD was found absent, which is a complete answer too: no jobs).
func (w *Watcher) Synced() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.synced) == len(w.kinds)
}

// Run watches until ctx is done. onChange (which may be nil) is called,
// debounced, after the jobs changed; it may be called from several
// goroutines and should only schedule a reload. A kind whose CRD is
// absent is logged once and looked for again every minute. Run returns
// nil when ctx is done.
func (w *Watcher) Run(ctx context.Context, onChange func()) error {
	if onChange == nil {
		onChange = func() {}
	}
	recorder, stop := kubewatch.NewRecorder(ctx, w.kube)
	defer stop()
	var wg sync.WaitGroup
	for _, k := range w.kinds {
		wg.Go(func() { w.runKind(ctx, k, recorder, onChange) })
	}
	wg.Wait()
	return nil
}

// runKind is Run for one kind.
func (w *Watcher) runKind(ctx context.Context, k *kind, recorder record.EventRecorder, onChange func()) {
	r := &kubewatch.Resource{
		Kind: k.name, GVR: k.gvr, Gives: "scrape jobs",
		Selector: k.sel, NamespaceSelector: k.nsSel, Namespaces: w.opts.Namespaces,
		Dyn: w.dyn, Kube: w.kube, Logger: w.logger,
		Retry: w.crdRetry, Debounce: w.debounce,
		SetServed: func(served bool) {
			if served {
				w.crdPresent.WithLabelValues(k.name).Set(1)
			} else {
				w.crdPresent.WithLabelValues(k.name).Set(0)
			}
		},
		Update: func(ctx context.Context, objs []*unstructured.Unstructured) bool {
			return w.recompute(ctx, k, objs, recorder)
		},
		Clear: func(removed bool) bool {
			if removed {
				w.invalidGauge.DeletePartialMatch(prometheus.Labels{"kind": k.name})
				w.jobsGauge.WithLabelValues(k.name).Set(0)
			}
			return w.setJobs(k, map[string][]byte{})
		},
	}
	r.Run(ctx, onChange)
}

// recompute converts the kind's selected objects and
// reports whether its jobs differ from the current ones.
func (w *Watcher) recompute(ctx context.Context, k *kind, objs []*unstructured.Unstructured, recorder record.EventRecorder) bool {
	jobs := map[string][]byte{}
	invalid := map[string]string{}
	for _, u := range objs {
		ns, name := u.GetNamespace(), u.GetName()
		id := k.prefix + ns + "/" + name
		b, err := w.convert(ctx, k, u)
		if err != nil {
			invalid[id] = u.GetResourceVersion()
			w.invalidGauge.WithLabelValues(k.name, ns, name).Set(1)
			w.report(k, u, id, err, recorder)
			continue
		}
		w.invalidGauge.DeleteLabelValues(k.name, ns, name)
		jobs[id] = b
	}
	w.mu.Lock()
	for id := range w.reported {
		if strings.HasPrefix(id, k.prefix) && invalid[id] == "" {
			delete(w.reported, id)
			ns, name, _ := strings.Cut(strings.TrimPrefix(id, k.prefix), "/")
			w.invalidGauge.DeleteLabelValues(k.name, ns, name)
		}
	}
	w.mu.Unlock()
	w.jobsGauge.WithLabelValues(k.name).Set(float64(len(jobs)))
	return w.setJobs(k, jobs)
}

// convert is one object's jobs.
func (w *Watcher) convert(ctx context.Context, k *kind, u *unstructured.Unstructured) ([]byte, error) {
	gen := w.gen
	gen.Refs = &apiRefs{kube: w.kube, ctx: ctx}
	return gen.Convert(k.name, u.Object)
}

// report logs an object that does not convert and records a Warning
// Event on it, once per resourceVersion.
func (w *Watcher) report(k *kind, u *unstructured.Unstructured, id string, err error, recorder record.EventRecorder) {
	w.mu.Lock()
	seen := w.reported[id] == u.GetResourceVersion()
	w.reported[id] = u.GetResourceVersion()
	w.mu.Unlock()
	if seen {
		return
	}
	w.logger.Warn(k.name+" cannot be converted to scrape jobs; left out, the other objects still apply",
		"kind", k.name, "namespace", u.GetNamespace(), "name", u.GetName(), "err", kubewatch.OneLine(err))
	if u.GetAPIVersion() == "" || u.GetKind() == "" {
		u = u.DeepCopy()
		u.SetAPIVersion(k.gvr.GroupVersion().String())
		u.SetKind(k.name)
	}
	recorder.Eventf(u, corev1.EventTypeWarning, "InvalidConfiguration",
		"%s %s was rejected: it does not convert to a Prometheus scrape config: %s", k.name, u.GetName(), kubewatch.OneLine(err))
}

// setJobs replaces the kind's jobs and marks the kind synced; it reports
// whether the jobs changed.
func (w *Watcher) setJobs(k *kind, jobs map[string][]byte) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.synced[k.name] = true
	old := map[string][]byte{}
	for id, b := range w.jobs {
		if strings.HasPrefix(id, k.prefix) {
			old[id] = b
		}
	}
	if maps.EqualFunc(old, jobs, bytes.Equal) {
		return false
	}
	for id := range old {
		delete(w.jobs, id)
	}
	maps.Copy(w.jobs, jobs)
	return true
}

// SortedIDs returns the identifiers of jobs in order.
func SortedIDs(jobs map[string][]byte) []string {
	ids := make([]string, 0, len(jobs))
	for id := range jobs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// apiRefs reads Secrets and ConfigMaps through the API server.
type apiRefs struct {
	kube kubernetes.Interface
	ctx  context.Context
}

func (r *apiRefs) context() (context.Context, context.CancelFunc) {
	ctx := r.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, refTimeout)
}

func (r *apiRefs) SecretKey(ns string, sel SecretKeySelector) (string, error) {
	ctx, cancel := r.context()
	defer cancel()
	s, err := r.kube.CoreV1().Secrets(ns).Get(ctx, sel.Name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("secret %s/%s: %w", ns, sel.Name, err)
	}
	v, ok := s.Data[sel.Key]
	if !ok {
		return "", fmt.Errorf("secret %s/%s has no key %q", ns, sel.Name, sel.Key)
	}
	return string(v), nil
}

func (r *apiRefs) ConfigMapKey(ns string, sel ConfigMapKeySelector) (string, error) {
	ctx, cancel := r.context()
	defer cancel()
	cm, err := r.kube.CoreV1().ConfigMaps(ns).Get(ctx, sel.Name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("configmap %s/%s: %w", ns, sel.Name, err)
	}
	v, ok := cm.Data[sel.Key]
	if !ok {
		return "", fmt.Errorf("configmap %s/%s has no key %q", ns, sel.Name, sel.Key)
	}
	return v, nil
}
