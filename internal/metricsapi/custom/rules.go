package custom

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Config is prometheus-adapter's configuration (the parts served here):
// rules for custom metrics and externalRules for external metrics.
type Config struct {
	Rules         []Rule `yaml:"rules"`
	ExternalRules []Rule `yaml:"externalRules"`
}

// Rule finds series with SeriesQuery, names them, ties their labels to
// Kubernetes resources and queries them with MetricsQuery.
type Rule struct {
	SeriesQuery string `yaml:"seriesQuery"`
	Resources   struct {
		// Overrides map a label to the resource it names.
		Overrides map[string]struct {
			Group    string `yaml:"group"`
			Resource string `yaml:"resource"`
		} `yaml:"overrides"`
		// Namespaced (external rules) scopes the query to the request's
		// namespace; true by default.
		Namespaced *bool `yaml:"namespaced"`
	} `yaml:"resources"`
	Name struct {
		Matches string `yaml:"matches"`
		As      string `yaml:"as"`
	} `yaml:"name"`
	// MetricsQuery is a Go template with << >> delimiters over .Series,
	// .LabelMatchers and .GroupBy.
	MetricsQuery string `yaml:"metricsQuery"`

	nameRE *regexp.Regexp
	query  *template.Template
	// labelFor is each resource's label.
	labelFor map[schema.GroupResource]string
}

// LoadConfig reads and checks a rules file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("custom metrics rules: %w", err)
	}
	return ParseConfig(b)
}

// ParseConfig parses and checks rules.
func ParseConfig(b []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("custom metrics rules: %w", err)
	}
	for i := range c.Rules {
		if err := c.Rules[i].compile(); err != nil {
			return nil, fmt.Errorf("rules[%d]: %w", i, err)
		}
	}
	for i := range c.ExternalRules {
		if err := c.ExternalRules[i].compile(); err != nil {
			return nil, fmt.Errorf("externalRules[%d]: %w", i, err)
		}
	}
	return &c, nil
}

func (r *Rule) compile() error {
	if r.SeriesQuery == "" || r.MetricsQuery == "" {
		return fmt.Errorf("seriesQuery and metricsQuery are required")
	}
	m := r.Name.Matches
	if m == "" {
		m = "^(.*)$"
	}
	var err error
	if r.nameRE, err = regexp.Compile(m); err != nil {
		return fmt.Errorf("name.matches: %w", err)
	}
	if r.query, err = template.New("metricsQuery").Delims("<<", ">>").Option("missingkey=error").Parse(r.MetricsQuery); err != nil {
		return fmt.Errorf("metricsQuery: %w", err)
	}
	r.labelFor = map[schema.GroupResource]string{}
	for label, res := range r.Resources.Overrides {
		if res.Resource == "" {
			return fmt.Errorf("resources.overrides.%s: resource is required", label)
		}
		r.labelFor[schema.GroupResource{Group: res.Group, Resource: plural(res.Resource)}] = label
	}
	return nil
}

// plural is the resource name as the API spells it ("pod" -> "pods").
func plural(r string) string {
	r = strings.ToLower(r)
	if strings.HasSuffix(r, "s") {
		return r
	}
	return r + "s"
}

// metricName names a series by the rule, or "" when it does not match.
func (r *Rule) metricName(series string) string {
	m := r.nameRE.FindStringSubmatchIndex(series)
	if m == nil {
		return ""
	}
	as := r.Name.As
	if as == "" {
		if r.nameRE.NumSubexp() > 0 {
			as = "$1"
		} else {
			as = "$0"
		}
	}
	return string(r.nameRE.ExpandString(nil, as, series, m))
}

// render fills the rule's query.
func (r *Rule) render(series string, matchers []string, groupBy string) (string, error) {
	var b strings.Builder
	err := r.query.Execute(&b, struct {
		Series        string
		LabelMatchers string
		GroupBy       string
	}{series, strings.Join(matchers, ","), groupBy})
	return b.String(), err
}
