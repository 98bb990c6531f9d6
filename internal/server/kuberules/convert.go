package kuberules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// ruleSpec is the spec of a PrometheusRule as prometheus-operator's Go
// types read it: unknown fields are ignored, and fields are written out in
// the order of a rule file. The yaml tags are the rule file's keys.
type ruleSpec struct {
	Groups []ruleGroup `json:"groups" yaml:"groups"`
}

type ruleGroup struct {
	Name        string            `json:"name" yaml:"name"`
	Interval    string            `json:"interval,omitempty" yaml:"interval,omitempty"`
	QueryOffset string            `json:"query_offset,omitempty" yaml:"query_offset,omitempty"`
	Limit       *int              `json:"limit,omitempty" yaml:"limit,omitempty"`
	Labels      map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
	// PartialResponseStrategy is Thanos Ruler's; Prometheus's parser
	// rejects the key, so it is read and never written.
	PartialResponseStrategy string `json:"partial_response_strategy,omitempty" yaml:"-"`
	Rules                   []rule `json:"rules" yaml:"rules"`
}

type rule struct {
	Record        string            `json:"record,omitempty" yaml:"record,omitempty"`
	Alert         string            `json:"alert,omitempty" yaml:"alert,omitempty"`
	Expr          expr              `json:"expr" yaml:"expr"`
	For           string            `json:"for,omitempty" yaml:"for,omitempty"`
	KeepFiringFor string            `json:"keep_firing_for,omitempty" yaml:"keep_firing_for,omitempty"`
	Labels        map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty" yaml:"annotations,omitempty"`
}

// expr is a rule's expression, which the CRD types as int-or-string
// (`expr: 1` is a valid PromQL expression); the rule file always gets a
// string.
type expr string

func (e *expr) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*e = expr(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("expr: want a string or an integer, got %s", b)
	}
	*e = expr(n.String())
	return nil
}

// ruleFile returns the Prometheus rule file of a PrometheusRule object's
// spec (the unstructured object's "spec" field), checked with Prometheus's
// rule-file parser. The error says what is wrong, with the parser's
// messages (group, rule index and the offending field).
func ruleFile(spec any, p parser.Parser, logger *slog.Logger) ([]byte, error) {
	if spec == nil {
		return nil, errors.New("no spec")
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	var s ruleSpec
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("spec does not decode as a rule file: %w", err)
	}
	if s.Groups == nil {
		// `groups: []` rather than `groups: null`: a file without groups
		// is valid and loads nothing.
		s.Groups = []ruleGroup{}
	}
	for i := range s.Groups {
		if s.Groups[i].Rules == nil {
			s.Groups[i].Rules = []rule{}
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&s); err != nil {
		return nil, fmt.Errorf("encode rule file: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode rule file: %w", err)
	}
	content := buf.Bytes()
	// UTF-8 names, as Prometheus 3 (and the server's default
	// metric_name_validation_scheme) accepts them.
	if _, errs := rulefmt.Parse(content, false, model.UTF8Validation, p, logger); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return content, nil
}
