package custom

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/metrics/pkg/apis/custom_metrics"
	"k8s.io/metrics/pkg/apis/external_metrics"

	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"
)

// Prometheus is the part of the Prometheus HTTP API used: series discovery
// and instant queries (promv1.API satisfies it).
type Prometheus interface {
	Series(ctx context.Context, matches []string, startTime, endTime time.Time, opts ...promv1.Option) ([]model.LabelSet, promv1.Warnings, promv1.Infos, error)
	Query(ctx context.Context, query string, ts time.Time, opts ...promv1.Option) (model.Value, promv1.Warnings, promv1.Infos, error)
}

// Objects lists the names of objects, to answer "pods/*" with a selector.
type Objects interface {
	Names(ctx context.Context, gr schema.GroupResource, namespace string, selector labels.Selector) ([]string, error)
	Kind(gr schema.GroupResource) (schema.GroupVersionKind, error)
}

// seriesRef is a discovered metric: its rule and series name.
type seriesRef struct {
	rule   *Rule
	series string
}

// Provider implements provider.MetricsProvider over PromQL.
type Provider struct {
	cfg     *Config
	prom    Prometheus
	objects Objects
	logger  *slog.Logger

	mu       sync.RWMutex
	custom   map[provider.CustomMetricInfo]seriesRef
	external map[string]seriesRef
}

var _ provider.MetricsProvider = (*Provider)(nil)

// NewProvider returns a provider; Relist (or Run) discovers the metrics.
func NewProvider(cfg *Config, prom Prometheus, objects Objects, logger *slog.Logger) *Provider {
	return &Provider{cfg: cfg, prom: prom, objects: objects, logger: logger,
		custom: map[provider.CustomMetricInfo]seriesRef{}, external: map[string]seriesRef{}}
}

// Run relists every interval until ctx ends.
func (p *Provider) Run(ctx context.Context, interval time.Duration) {
	for {
		if err := p.Relist(ctx); err != nil {
			p.logger.Warn("discovering custom metrics series", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// Relist finds the series of every rule (of the last hour) and the metrics
// they make.
func (p *Provider) Relist(ctx context.Context) error {
	now := time.Now()
	custom := map[provider.CustomMetricInfo]seriesRef{}
	external := map[string]seriesRef{}
	nsResource := schema.GroupResource{Resource: "namespaces"}
	for i := range p.cfg.Rules {
		r := &p.cfg.Rules[i]
		sets, _, _, err := p.prom.Series(ctx, []string{r.SeriesQuery}, now.Add(-time.Hour), now)
		if err != nil {
			return fmt.Errorf("series %s: %w", r.SeriesQuery, err)
		}
		for _, ls := range sets {
			series := string(ls[model.MetricNameLabel])
			name := r.metricName(series)
			if name == "" {
				continue
			}
			nsLabel, hasNS := r.labelFor[nsResource]
			for gr, label := range r.labelFor {
				if _, ok := ls[model.LabelName(label)]; !ok {
					continue
				}
				namespaced := gr != nsResource && hasNS && ls[model.LabelName(nsLabel)] != ""
				custom[provider.CustomMetricInfo{GroupResource: gr, Namespaced: namespaced, Metric: name}] = seriesRef{r, series}
			}
		}
	}
	for i := range p.cfg.ExternalRules {
		r := &p.cfg.ExternalRules[i]
		sets, _, _, err := p.prom.Series(ctx, []string{r.SeriesQuery}, now.Add(-time.Hour), now)
		if err != nil {
			return fmt.Errorf("series %s: %w", r.SeriesQuery, err)
		}
		for _, ls := range sets {
			series := string(ls[model.MetricNameLabel])
			if name := r.metricName(series); name != "" {
				external[name] = seriesRef{r, series}
			}
		}
	}
	p.mu.Lock()
	p.custom, p.external = custom, external
	p.mu.Unlock()
	return nil
}

// ListAllMetrics implements provider.CustomMetricsProvider.
func (p *Provider) ListAllMetrics() []provider.CustomMetricInfo {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]provider.CustomMetricInfo, 0, len(p.custom))
	for info := range p.custom {
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// ListAllExternalMetrics implements provider.ExternalMetricsProvider.
func (p *Provider) ListAllExternalMetrics() []provider.ExternalMetricInfo {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]provider.ExternalMetricInfo, 0, len(p.external))
	for name := range p.external {
		out = append(out, provider.ExternalMetricInfo{Metric: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Metric < out[j].Metric })
	return out
}

func (p *Provider) lookup(info provider.CustomMetricInfo) (seriesRef, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	ref, ok := p.custom[info]
	return ref, ok
}

// GetMetricByName implements provider.CustomMetricsProvider.
func (p *Provider) GetMetricByName(ctx context.Context, name types.NamespacedName, info provider.CustomMetricInfo, metricSelector labels.Selector) (*custom_metrics.MetricValue, error) {
	vals, err := p.query(ctx, name.Namespace, []string{name.Name}, info, metricSelector)
	if err != nil {
		return nil, err
	}
	if len(vals) == 0 {
		return nil, provider.NewMetricNotFoundForError(info.GroupResource, info.Metric, name.Name)
	}
	return &vals[0], nil
}

// GetMetricBySelector implements provider.CustomMetricsProvider: the
// objects matching selector are listed and their values queried at once.
func (p *Provider) GetMetricBySelector(ctx context.Context, namespace string, selector labels.Selector, info provider.CustomMetricInfo, metricSelector labels.Selector) (*custom_metrics.MetricValueList, error) {
	if _, ok := p.lookup(info); !ok {
		return nil, provider.NewMetricNotFoundError(info.GroupResource, info.Metric)
	}
	names, err := p.objects.Names(ctx, info.GroupResource, namespace, selector)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return &custom_metrics.MetricValueList{}, nil
	}
	vals, err := p.query(ctx, namespace, names, info, metricSelector)
	if err != nil {
		return nil, err
	}
	return &custom_metrics.MetricValueList{Items: vals}, nil
}

// query runs a rule's query for the named objects.
func (p *Provider) query(ctx context.Context, namespace string, names []string, info provider.CustomMetricInfo, metricSelector labels.Selector) ([]custom_metrics.MetricValue, error) {
	ref, ok := p.lookup(info)
	if !ok {
		return nil, provider.NewMetricNotFoundError(info.GroupResource, info.Metric)
	}
	label := ref.rule.labelFor[info.GroupResource]
	matchers, err := selectorMatchers(metricSelector)
	if err != nil {
		return nil, err
	}
	if info.Namespaced {
		if nsLabel, ok := ref.rule.labelFor[schema.GroupResource{Resource: "namespaces"}]; ok {
			matchers = append(matchers, fmt.Sprintf("%s=%q", nsLabel, namespace))
		}
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = regexp.QuoteMeta(n)
	}
	matchers = append(matchers, fmt.Sprintf("%s=~%q", label, strings.Join(quoted, "|")))
	q, err := ref.rule.render(ref.series, matchers, label)
	if err != nil {
		return nil, fmt.Errorf("metricsQuery of %s: %w", info.Metric, err)
	}
	now := time.Now()
	v, _, _, err := p.prom.Query(ctx, q, now)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("query %s: got a %s, want an instant vector", q, v.Type())
	}
	gvk, err := p.objects.Kind(info.GroupResource)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var sel *metav1.LabelSelector
	if metricSelector != nil && !metricSelector.Empty() {
		sel, _ = metav1.ParseToLabelSelector(metricSelector.String())
	}
	out := make([]custom_metrics.MetricValue, 0, len(vec))
	for _, s := range vec {
		obj := string(s.Metric[model.LabelName(label)])
		if !want[obj] {
			continue
		}
		mv := custom_metrics.MetricValue{
			DescribedObject: custom_metrics.ObjectReference{Kind: gvk.Kind, APIVersion: gvk.GroupVersion().String(), Name: obj},
			Metric:          custom_metrics.MetricIdentifier{Name: info.Metric, Selector: sel},
			Timestamp:       metav1.NewTime(s.Timestamp.Time()),
			Value:           quantity(float64(s.Value)),
		}
		if info.Namespaced {
			mv.DescribedObject.Namespace = namespace
		}
		out = append(out, mv)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DescribedObject.Name < out[j].DescribedObject.Name })
	return out, nil
}

// GetExternalMetric implements provider.ExternalMetricsProvider.
func (p *Provider) GetExternalMetric(ctx context.Context, namespace string, metricSelector labels.Selector, info provider.ExternalMetricInfo) (*external_metrics.ExternalMetricValueList, error) {
	p.mu.RLock()
	ref, ok := p.external[info.Metric]
	p.mu.RUnlock()
	if !ok {
		return nil, provider.NewMetricNotFoundError(schema.GroupResource{Group: "external.metrics.k8s.io"}, info.Metric)
	}
	matchers, err := selectorMatchers(metricSelector)
	if err != nil {
		return nil, err
	}
	nsLabel, hasNS := ref.rule.labelFor[schema.GroupResource{Resource: "namespaces"}]
	if !hasNS {
		nsLabel = "namespace"
	}
	if (ref.rule.Resources.Namespaced == nil || *ref.rule.Resources.Namespaced) && namespace != "" {
		matchers = append(matchers, fmt.Sprintf("%s=%q", nsLabel, namespace))
	}
	q, err := ref.rule.render(ref.series, matchers, "")
	if err != nil {
		return nil, fmt.Errorf("metricsQuery of %s: %w", info.Metric, err)
	}
	v, _, _, err := p.prom.Query(ctx, q, time.Now())
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	out := &external_metrics.ExternalMetricValueList{}
	switch v := v.(type) {
	case model.Vector:
		for _, s := range v {
			ls := map[string]string{}
			for k, val := range s.Metric {
				if k != model.MetricNameLabel {
					ls[string(k)] = string(val)
				}
			}
			out.Items = append(out.Items, external_metrics.ExternalMetricValue{MetricName: info.Metric, MetricLabels: ls,
				Timestamp: metav1.NewTime(s.Timestamp.Time()), Value: quantity(float64(s.Value))})
		}
	case *model.Scalar:
		out.Items = append(out.Items, external_metrics.ExternalMetricValue{MetricName: info.Metric,
			Timestamp: metav1.NewTime(v.Timestamp.Time()), Value: quantity(float64(v.Value))})
	default:
		return nil, fmt.Errorf("query %s: got a %s, want an instant vector or scalar", q, v.Type())
	}
	return out, nil
}

// quantity keeps three decimals, as prometheus-adapter does (milli-units).
func quantity(v float64) resource.Quantity {
	return *resource.NewMilliQuantity(int64(v*1000), resource.DecimalSI)
}

// selectorMatchers turns a label selector into PromQL label matchers.
func selectorMatchers(sel labels.Selector) ([]string, error) {
	if sel == nil {
		return nil, nil
	}
	reqs, _ := sel.Requirements()
	var out []string
	for _, r := range reqs {
		vals := r.Values().List()
		quoted := make([]string, len(vals))
		for i, v := range vals {
			quoted[i] = regexp.QuoteMeta(v)
		}
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals:
			out = append(out, fmt.Sprintf("%s=%q", r.Key(), vals[0]))
		case selection.NotEquals:
			out = append(out, fmt.Sprintf("%s!=%q", r.Key(), vals[0]))
		case selection.In:
			out = append(out, fmt.Sprintf("%s=~%q", r.Key(), strings.Join(quoted, "|")))
		case selection.NotIn:
			out = append(out, fmt.Sprintf("%s!~%q", r.Key(), strings.Join(quoted, "|")))
		case selection.Exists:
			out = append(out, fmt.Sprintf("%s!=\"\"", r.Key()))
		case selection.DoesNotExist:
			out = append(out, fmt.Sprintf("%s=\"\"", r.Key()))
		default:
			return nil, fmt.Errorf("label selector operator %s has no PromQL matcher", r.Operator())
		}
	}
	return out, nil
}

// MetadataObjects lists objects of any resource by their metadata.
type MetadataObjects struct {
	Client metadata.Interface
	Mapper meta.RESTMapper
}

// Names implements Objects.
func (m *MetadataObjects) Names(ctx context.Context, gr schema.GroupResource, namespace string, selector labels.Selector) ([]string, error) {
	gvr, err := m.Mapper.ResourceFor(gr.WithVersion(""))
	if err != nil {
		return nil, fmt.Errorf("resource %s: %w", gr, err)
	}
	list, err := m.Client.Resource(gvr).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", gr, err)
	}
	names := make([]string, len(list.Items))
	for i := range list.Items {
		names[i] = list.Items[i].Name
	}
	return names, nil
}

// Kind implements Objects.
func (m *MetadataObjects) Kind(gr schema.GroupResource) (schema.GroupVersionKind, error) {
	gvk, err := m.Mapper.KindFor(gr.WithVersion(""))
	if err != nil {
		return schema.GroupVersionKind{}, fmt.Errorf("kind of %s: %w", gr, err)
	}
	return gvk, nil
}
