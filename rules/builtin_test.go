package builtinrules_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/panoptes-dev/panoptes/internal/testkit"
	builtinrules "github.com/panoptes-dev/panoptes/rules"
)

// embeddedPromtool is the promtool of the Prometheus version whose rules
// package the server embeds (hack/test-deps.sh builds it).
const embeddedPromtool = "prometheus-v0.316.0/promtool"

// promtools are the promtools every rule file and test must satisfy: the
// embedded version's and Debian's (2.42), which an operator may well have on
// the path. Both understand every construct used here (no keep_firing_for,
// which 2.42 reads but older ones do not).
func promtools(t *testing.T) map[string]func(*testing.T) string {
	t.Helper()
	return map[string]func(*testing.T) string{
		"v0.316.0": func(t *testing.T) string { return testkit.CachedPeer(t, embeddedPromtool) },
		"debian":   func(t *testing.T) string { return testkit.Peer(t, "promtool") },
	}
}

// ruleFile is one embedded file, parsed.
type ruleFile struct {
	name   string // host.yaml
	groups []rulefmt.RuleGroup
}

var promqlParser = parser.NewParser(parser.Options{})

// loadRuleFiles parses every embedded rule file as Prometheus's rules
// package will (unknown fields refused).
func loadRuleFiles(t *testing.T) []ruleFile {
	t.Helper()
	names, err := fs.Glob(builtinrules.Files, "*")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("no embedded rule files")
	}
	var files []ruleFile
	for _, name := range names {
		b, err := fs.ReadFile(builtinrules.Files, name)
		if err != nil {
			t.Fatal(err)
		}
		rgs, errs := rulefmt.Parse(b, false, model.UTF8Validation, promqlParser, slog.New(slog.DiscardHandler))
		for _, err := range errs {
			t.Errorf("%s: %v", name, err)
		}
		if rgs == nil {
			continue
		}
		files = append(files, ruleFile{name: name, groups: rgs.Groups})
	}
	if t.Failed() {
		t.FailNow()
	}
	return files
}

// recordNameRE is Prometheus's naming convention for recording rules,
// level:metric:operations.
var recordNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_]+:[a-zA-Z0-9_]+$`)

// TestRuleFilesConventions: the group names are unique across the files and
// prefixed (a user's group of the same name replaces a built-in one, so a
// collision would silently drop rules), every alert is named Panoptes*, has
// a severity the Alertmanager routes on and both annotations, and every
// recording rule is named level:metric:operations.
func TestRuleFilesConventions(t *testing.T) {
	t.Parallel()
	groups := map[string]string{}
	alerts := map[string]string{}
	for _, f := range loadRuleFiles(t) {
		if len(f.groups) == 0 {
			t.Errorf("%s: no groups", f.name)
		}
		for _, g := range f.groups {
			if !strings.HasPrefix(g.Name, "panoptes-") {
				t.Errorf("%s: group %q: the name must start with panoptes- (users override built-in groups by name)", f.name, g.Name)
			}
			if other, ok := groups[g.Name]; ok {
				t.Errorf("%s: group %q is also in %s: group names must be unique across the built-in files", f.name, g.Name, other)
			}
			groups[g.Name] = f.name
			if len(g.Rules) == 0 {
				t.Errorf("%s: group %q has no rules", f.name, g.Name)
			}
			for _, r := range g.Rules {
				if r.Record != "" {
					if !recordNameRE.MatchString(r.Record) {
						t.Errorf("%s: record %q: name it level:metric:operations", f.name, r.Record)
					}
					continue
				}
				where := fmt.Sprintf("%s: alert %s", f.name, r.Alert)
				if !strings.HasPrefix(r.Alert, "Panoptes") {
					t.Errorf("%s: the name must start with Panoptes", where)
				}
				if other, ok := alerts[r.Alert]; ok {
					t.Errorf("%s: also defined in %s", where, other)
				}
				alerts[r.Alert] = f.name
				if s := r.Labels["severity"]; s != "warning" && s != "critical" {
					t.Errorf("%s: severity %q, want warning or critical", where, s)
				}
				for _, a := range []string{"summary", "description"} {
					if strings.TrimSpace(r.Annotations[a]) == "" {
						t.Errorf("%s: no %s annotation", where, a)
					}
				}
			}
		}
	}
}

// unitTestFile is promtool's test file format, as much as the coverage
// check reads. Unknown fields are refused, so that a misspelt key (promtool
// wants alert_rule_test, not alert_rule_tests) fails here with its name.
type unitTestFile struct {
	RuleFiles          []string    `yaml:"rule_files"`
	EvaluationInterval string      `yaml:"evaluation_interval,omitempty"`
	Tests              []testGroup `yaml:"tests"`
}

type testGroup struct {
	Name            string          `yaml:"name,omitempty"`
	Interval        string          `yaml:"interval"`
	InputSeries     []inputSeries   `yaml:"input_series"`
	AlertRuleTests  []alertRuleTest `yaml:"alert_rule_test,omitempty"`
	PromqlExprTests []promqlExpr    `yaml:"promql_expr_test,omitempty"`
}

type inputSeries struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

type alertRuleTest struct {
	EvalTime  string `yaml:"eval_time"`
	Alertname string `yaml:"alertname"`
	ExpAlerts []struct {
		ExpLabels      map[string]string `yaml:"exp_labels"`
		ExpAnnotations map[string]string `yaml:"exp_annotations"`
	} `yaml:"exp_alerts"`
}

type promqlExpr struct {
	Expr     string `yaml:"expr"`
	EvalTime string `yaml:"eval_time"`
	// Not omitempty: an empty list is written out, and promtool then
	// requires the expression to return nothing.
	ExpSamples []struct {
		Labels string  `yaml:"labels"`
		Value  float64 `yaml:"value"`
	} `yaml:"exp_samples"`
}

func decodeStrict(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// testFileFor is where the promtool tests of an embedded rule file live.
func testFileFor(name string) string {
	return filepath.Join("tests", strings.TrimSuffix(name, ".yaml")+"_test.yaml")
}

// TestEveryRuleTested: each rule file has its promtool test file, which
// loads it; in it every alert has a case where it fires (exp_alerts with
// labels and annotations) and one where it stays quiet (exp_alerts: []),
// and every recording rule has an expression test with expected samples. A
// new rule without tests fails here, before promtool runs at all.
func TestEveryRuleTested(t *testing.T) {
	t.Parallel()
	for _, f := range loadRuleFiles(t) {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			path := testFileFor(f.name)
			var tf unitTestFile
			decodeStrict(t, path, &tf)
			if !slices.Contains(tf.RuleFiles, "../"+f.name) {
				t.Errorf("%s: rule_files %q does not load ../%s", path, tf.RuleFiles, f.name)
			}

			fires, quiet, sampled := map[string]bool{}, map[string]bool{}, map[string]bool{}
			for _, g := range tf.Tests {
				for _, at := range g.AlertRuleTests {
					if len(at.ExpAlerts) == 0 {
						quiet[at.Alertname] = true
						continue
					}
					fires[at.Alertname] = true
					for _, a := range at.ExpAlerts {
						if a.ExpLabels["severity"] == "" || a.ExpAnnotations["summary"] == "" || a.ExpAnnotations["description"] == "" {
							t.Errorf("%s: test %q: alert %s at %s: give exp_labels with severity and exp_annotations with summary and description", path, g.Name, at.Alertname, at.EvalTime)
						}
					}
				}
				for _, et := range g.PromqlExprTests {
					if len(et.ExpSamples) == 0 {
						continue
					}
					expr, err := promqlParser.ParseExpr(et.Expr)
					if err != nil {
						t.Errorf("%s: test %q: expr %q: %v", path, g.Name, et.Expr, err)
						continue
					}
					for _, name := range selectedNames(expr) {
						sampled[name] = true
					}
				}
			}

			defined := map[string]bool{}
			for _, g := range f.groups {
				for _, r := range g.Rules {
					switch {
					case r.Alert != "":
						defined[r.Alert] = true
						if !fires[r.Alert] {
							t.Errorf("%s: alert %s: no test where it fires (an alert_rule_test with exp_alerts)", path, r.Alert)
						}
						if !quiet[r.Alert] {
							t.Errorf("%s: alert %s: no test where it stays quiet (an alert_rule_test with exp_alerts: [])", path, r.Alert)
						}
					case r.Record != "":
						if !sampled[r.Record] {
							t.Errorf("%s: record %s: no promql_expr_test reads it with exp_samples", path, r.Record)
						}
					}
				}
			}
			for name := range fires {
				if !defined[name] {
					t.Errorf("%s: tests alert %s, which %s does not define", path, name, f.name)
				}
			}
			for name := range quiet {
				if !defined[name] {
					t.Errorf("%s: tests alert %s, which %s does not define", path, name, f.name)
				}
			}
		})
	}
	// A test file whose rule file went away is stale.
	tests, err := filepath.Glob(filepath.Join("tests", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range tests {
		name := strings.TrimSuffix(filepath.Base(path), "_test.yaml") + ".yaml"
		if _, err := fs.Stat(builtinrules.Files, name); err != nil || !strings.HasSuffix(path, "_test.yaml") {
			t.Errorf("%s: not the test file of an embedded rule file (tests/NAME_test.yaml for NAME.yaml)", path)
		}
	}
}

// selectedNames returns the metric names an expression's selectors read.
func selectedNames(expr parser.Expr) []string {
	var names []string
	for _, vs := range selectors(expr) {
		if vs.Name != "" {
			names = append(names, vs.Name)
		}
	}
	return names
}

func selectors(expr parser.Expr) []*parser.VectorSelector {
	var out []*parser.VectorSelector
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs)
		}
		return nil
	})
	return out
}

// TestPromtoolCheckRules: promtool accepts every embedded file with every
// lint check on, lint findings (duplicate rules) fatal.
func TestPromtoolCheckRules(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, promtool := range promtools(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bin := promtool(t)
			args := append([]string{"check", "rules", "--lint=all", "--lint-fatal"}, files...)
			out, err := exec.Command(bin, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out)
			}
			if bytes.Contains(bytes.ToLower(out), []byte("warning")) {
				t.Errorf("%s check rules warns:\n%s", bin, out)
			}
		})
	}
}

// TestPromtoolTestRules runs the promtool tests of tests/ with each promtool.
func TestPromtoolTestRules(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("tests", "*_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no promtool tests in tests/")
	}
	for name, promtool := range promtools(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bin := promtool(t)
			args := append([]string{"test", "rules"}, files...)
			out, err := exec.Command(bin, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out)
			}
		})
	}
}

// idleHost is testdata/idle_host.yaml: an hour of a healthy, idle system.
type idleHost struct {
	Interval    string        `yaml:"interval"`
	InputSeries []inputSeries `yaml:"input_series"`
}

// TestIdleHostQuiet is the fast stand-in for "an idle host fires nothing":
// every built-in rule evaluated by the embedded promtool over an hour of a
// healthy, idle host and cluster (testdata/idle_host.yaml) must leave no
// ALERTS sample at all, pending or firing. So that the series cannot go
// quiet just by lacking data, every selector of every rule must match at
// least one of the idle series.
func TestIdleHostQuiet(t *testing.T) {
	t.Parallel()
	var idle idleHost
	decodeStrict(t, filepath.Join("testdata", "idle_host.yaml"), &idle)
	var series []labels.Labels
	for _, s := range idle.InputSeries {
		lset, err := promqlParser.ParseMetric(s.Series)
		if err != nil {
			t.Fatalf("idle_host.yaml: series %q: %v", s.Series, err)
		}
		series = append(series, lset)
	}

	records := map[string]bool{}
	files := loadRuleFiles(t)
	for _, f := range files {
		for _, g := range f.groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					records[r.Record] = true
				}
			}
		}
	}
	var ruleFiles []string
	for _, f := range files {
		abs, err := filepath.Abs(f.name)
		if err != nil {
			t.Fatal(err)
		}
		ruleFiles = append(ruleFiles, abs)
		for _, g := range f.groups {
			for _, r := range g.Rules {
				expr, err := promqlParser.ParseExpr(r.Expr)
				if err != nil {
					t.Fatalf("%s: %s%s: %v", f.name, r.Alert, r.Record, err)
				}
				for _, vs := range selectors(expr) {
					if records[vs.Name] {
						continue
					}
					if !slices.ContainsFunc(series, func(l labels.Labels) bool { return matchesAll(vs.LabelMatchers, l) }) {
						t.Errorf("%s: %s%s reads %s, which no series of testdata/idle_host.yaml matches: add one as an idle host would show it", f.name, r.Alert, r.Record, vs)
					}
				}
			}
		}
	}

	// One hour of samples; ALERTS over the whole of it holds every pending
	// and firing alert the evaluations produced.
	tf := unitTestFile{
		RuleFiles:          ruleFiles,
		EvaluationInterval: idle.Interval,
		Tests: []testGroup{{
			Name:        "idle host",
			Interval:    idle.Interval,
			InputSeries: idle.InputSeries,
			PromqlExprTests: []promqlExpr{{
				Expr:     "count_over_time(ALERTS[61m])",
				EvalTime: "60m",
			}},
		}},
	}
	b, err := yaml.Marshal(tf)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "idle_test.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := testkit.CachedPeer(t, embeddedPromtool)
	out, err := exec.Command(bin, "test", "rules", path).CombinedOutput()
	if err != nil {
		t.Fatalf("on an idle host some built-in alert was pending or firing (the got: list names it):\n%s", out)
	}
}

func matchesAll(ms []*labels.Matcher, l labels.Labels) bool {
	for _, m := range ms {
		if !m.Matches(l.Get(m.Name)) {
			return false
		}
	}
	return true
}
