package kuberules

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// specOf decodes a spec written as JSON, as the dynamic client hands it
// over (numbers as int64 or float64).
func specOf(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRuleFile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, spec string
		want       string // the rule file; empty when an error is wanted
		wantErr    string // a part of the error
	}{
		{
			name: "every field, in a rule file's order, Thanos's field dropped",
			spec: `{"groups": [{
				"rules": [
					{"expr": "sum by (job) (rate(http_requests_total[5m]))", "record": "job:http_requests:rate5m", "labels": {"team": "a"}},
					{"alert": "HighErrorRate", "expr": "job:http_errors:rate5m\n  / job:http_requests:rate5m > 0.1", "for": "10m", "keep_firing_for": "5m",
					 "labels": {"severity": "page"}, "annotations": {"summary": "{{ $labels.job }} fails {{ $value | humanizePercentage }}"}}
				],
				"name": "example", "interval": "30s", "query_offset": "1m", "limit": 10, "labels": {"source": "crd"},
				"partial_response_strategy": "warn"
			}]}`,
			want: `groups:
  - name: example
    interval: 30s
    query_offset: 1m
    limit: 10
    labels:
      source: crd
    rules:
      - record: job:http_requests:rate5m
        expr: sum by (job) (rate(http_requests_total[5m]))
        labels:
          team: a
      - alert: HighErrorRate
        expr: |-
          job:http_errors:rate5m
            / job:http_requests:rate5m > 0.1
        for: 10m
        keep_firing_for: 5m
        labels:
          severity: page
        annotations:
          summary: '{{ $labels.job }} fails {{ $value | humanizePercentage }}'
`,
		},
		{
			name: "integer expr, empty interval and for left out",
			spec: `{"groups": [{"name": "one", "interval": "", "rules": [{"record": "one", "expr": 1, "for": ""}]}]}`,
			want: `groups:
  - name: one
    rules:
      - record: one
        expr: "1"
`,
		},
		{
			name: "unknown fields ignored, as prometheus-operator's types do",
			spec: `{"groups": [{"name": "g", "rules": [{"record": "r", "expr": "up", "extra": true}], "other": 1}], "more": {}}`,
			want: `groups:
  - name: g
    rules:
      - record: r
        expr: up
`,
		},
		{name: "no groups", spec: `{}`, want: "groups: []\n"},
		{name: "group without rules", spec: `{"groups": [{"name": "empty"}]}`, want: "groups:\n  - name: empty\n    rules: []\n"},
		{name: "bad PromQL", spec: `{"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "sum(up"}]}]}`, wantErr: "unclosed left parenthesis"},
		{name: "record and alert", spec: `{"groups": [{"name": "g", "rules": [{"alert": "A", "record": "r", "expr": "up"}]}]}`, wantErr: "only one of 'record' and 'alert' must be set"},
		{name: "neither record nor alert", spec: `{"groups": [{"name": "g", "rules": [{"expr": "up"}]}]}`, wantErr: "one of 'record' or 'alert' must be set"},
		{name: "group names repeated", spec: `{"groups": [{"name": "g", "rules": []}, {"name": "g", "rules": []}]}`, wantErr: "repeated in the same file"},
		{name: "for on a recording rule", spec: `{"groups": [{"name": "g", "rules": [{"record": "r", "expr": "up", "for": "5m"}]}]}`, wantErr: "invalid field 'for' in recording rule"},
		{name: "bad duration", spec: `{"groups": [{"name": "g", "interval": "5 minutes", "rules": []}]}`, wantErr: "5 minutes"},
		{name: "a label value that is not a string", spec: `{"groups": [{"name": "g", "rules": [{"record": "r", "expr": "up", "labels": {"a": 1}}]}]}`, wantErr: "does not decode"},
		{name: "expr neither string nor number", spec: `{"groups": [{"name": "g", "rules": [{"record": "r", "expr": {"a": 1}}]}]}`, wantErr: "want a string or an integer"},
		{name: "no spec", spec: `null`, wantErr: "no spec"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := parser.NewParser(parser.Options{})
			got, err := ruleFile(specOf(t, tc.spec), p, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q; file:\n%s", err, tc.wantErr, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("rule file (-want +got):\n%s", diff)
			}
			// What the server's loader does with it.
			if _, errs := rulefmt.Parse(got, false, model.UTF8Validation, p, nil); len(errs) > 0 {
				t.Errorf("rulefmt.Parse: %v", errs)
			}
		})
	}
}

// BenchmarkRuleFile converts and checks an object of the size of
// kube-prometheus' larger PrometheusRule objects (40 rules, templated
// annotations): the work each change of such an object costs.
func BenchmarkRuleFile(b *testing.B) {
	var rules []any
	for i := range 40 {
		rules = append(rules, map[string]any{
			"alert": fmt.Sprintf("Alert%d", i),
			"expr": fmt.Sprintf(`(kube_deployment_spec_replicas{job="kube-state-metrics"} > kube_deployment_status_replicas_available{job="kube-state-metrics"})
  and (changes(kube_deployment_status_replicas_updated{job="kube-state-metrics"}[10m]) == %d)`, i),
			"for":         "15m",
			"labels":      map[string]any{"severity": "warning"},
			"annotations": map[string]any{"description": "Deployment {{ $labels.namespace }}/{{ $labels.deployment }} has not matched the expected number of replicas for longer than 15 minutes.", "summary": "Deployment has not matched the expected number of replicas."},
		})
	}
	spec := map[string]any{"groups": []any{map[string]any{"name": "kubernetes-apps", "rules": rules}}}
	p := parser.NewParser(parser.Options{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ruleFile(spec, p, nil); err != nil {
			b.Fatal(err)
		}
	}
}
