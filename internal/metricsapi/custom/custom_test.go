package custom

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"
)

const rulesYAML = `rules:
  - seriesQuery: 'http_requests_total{namespace!="",pod!=""}'
    resources:
      overrides:
        namespace: {resource: "namespace"}
        pod: {resource: "pod"}
    name: {matches: "^(.*)_total$", as: "${1}_per_second"}
    metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)'
externalRules:
  - seriesQuery: 'queue_messages_ready'
    resources: {namespaced: false}
    metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>})'
`

func TestParseConfigErrors(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		"rules: [{seriesQuery: x}]",
		"rules: [{seriesQuery: x, metricsQuery: '<<.Nope'}]",
		"rules: [{seriesQuery: x, metricsQuery: y, name: {matches: '('}}]",
		"rules: [{seriesQuery: x, metricsQuery: y, resources: {overrides: {pod: {group: ''}}}}]",
		"unknownField: 1",
	} {
		if _, err := ParseConfig([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// fakeProm records queries and answers with fixed series and samples.
type fakeProm struct {
	series  []model.LabelSet
	vector  model.Vector
	queries []string
}

func (f *fakeProm) Series(context.Context, []string, time.Time, time.Time, ...promv1.Option) ([]model.LabelSet, promv1.Warnings, promv1.Infos, error) {
	return f.series, nil, nil, nil
}

func (f *fakeProm) Query(_ context.Context, q string, _ time.Time, _ ...promv1.Option) (model.Value, promv1.Warnings, promv1.Infos, error) {
	f.queries = append(f.queries, q)
	return f.vector, nil, nil, nil
}

type fakeObjects []string

func (f fakeObjects) Names(context.Context, schema.GroupResource, string, labels.Selector) ([]string, error) {
	return f, nil
}

func (f fakeObjects) Kind(schema.GroupResource) (schema.GroupVersionKind, error) {
	return schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, nil
}

// TestProviderQueries checks the PromQL a request becomes, and that answers
// map back to objects, as prometheus-adapter's rules do.
func TestProviderQueries(t *testing.T) {
	t.Parallel()
	cfg, err := ParseConfig([]byte(rulesYAML))
	if err != nil {
		t.Fatal(err)
	}
	prom := &fakeProm{
		series: []model.LabelSet{{"__name__": "http_requests_total", "namespace": "shop", "pod": "web-1"}},
		vector: model.Vector{
			{Metric: model.Metric{"pod": "web-1"}, Value: 2.5},
			{Metric: model.Metric{"pod": "not-asked"}, Value: 9},
		},
	}
	p := NewProvider(cfg, prom, fakeObjects{"web-1", "web.2"}, slog.New(slog.DiscardHandler))
	if err := p.Relist(context.Background()); err != nil {
		t.Fatal(err)
	}
	info := provider.CustomMetricInfo{GroupResource: schema.GroupResource{Resource: "pods"}, Namespaced: true, Metric: "http_requests_per_second"}
	all := p.ListAllMetrics()
	if len(all) != 2 || all[1] != info {
		t.Fatalf("metrics %v, want pods and namespaces http_requests_per_second", all)
	}
	sel, _ := labels.Parse("app=web")
	msel, _ := labels.Parse("verb in (GET,PUT)")
	list, err := p.GetMetricBySelector(context.Background(), "shop", sel, info, msel)
	if err != nil {
		t.Fatal(err)
	}
	wantQ := `sum(rate(http_requests_total{verb=~"GET|PUT",namespace="shop",pod=~"web-1|web\\.2"}[2m])) by (pod)`
	if prom.queries[0] != wantQ {
		t.Errorf("query\n%s\nwant\n%s", prom.queries[0], wantQ)
	}
	if len(list.Items) != 1 || list.Items[0].DescribedObject.Name != "web-1" || list.Items[0].Value.String() != "2500m" || list.Items[0].DescribedObject.Namespace != "shop" {
		t.Errorf("items %+v, want web-1 = 2500m", list.Items)
	}
	if _, err := p.GetMetricByName(context.Background(), types.NamespacedName{Namespace: "shop", Name: "web.2"}, info, labels.Everything()); err == nil || !strings.Contains(err.Error(), "could not find the metric") {
		t.Errorf("a pod without a sample: %v, want not found", err)
	}
	unknown := info
	unknown.Metric = "nope"
	if _, err := p.GetMetricBySelector(context.Background(), "shop", sel, unknown, labels.Everything()); err == nil {
		t.Error("an undefined metric was answered")
	}

	ext, err := p.GetExternalMetric(context.Background(), "shop", labels.Everything(), provider.ExternalMetricInfo{Metric: "queue_messages_ready"})
	if err == nil {
		t.Errorf("external metric before its series were seen: %v", ext)
	}
}
