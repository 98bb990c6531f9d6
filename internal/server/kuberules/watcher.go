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
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
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
	r := &kubewatch.Resource{
		Kind: "PrometheusRule", GVR: w.gvr, Gives: "rules",
		Selector: w.ruleSel, NamespaceSelector: w.nsSel, Namespaces: w.opts.Namespaces,
		Dyn: w.dyn, Kube: w.kube, Logger: w.logger,
		Retry: w.crdRetry, Debounce: w.debounce,
		SetServed: func(served bool) {
			if served {
				w.crdPresent.Set(1)
			} else {
				w.crdPresent.Set(0)
			}
		},
		Update: func(_ context.Context, objs []*unstructured.Unstructured) bool {
			return w.recompute(objs, recorder)
		},
		Clear: func(removed bool) bool {
			if removed {
				w.forget()
			}
			return w.setFiles(map[string][]byte{})
		},
	}
	r.Run(ctx, onChange)
	return nil
}

// recompute builds the rule files from the selected objects and reports
// whether they differ from the current ones.
func (w *Watcher) recompute(objs []*unstructured.Unstructured, recorder record.EventRecorder) bool {
	files := map[string][]byte{}
	seen := map[string]bool{}
	invalid := map[string]bool{}
	for _, u := range objs {
		ns, name := u.GetNamespace(), u.GetName()
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
