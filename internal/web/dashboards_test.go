package web

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	webassets "github.com/panoptes-dev/panoptes/web"
)

// TestBuiltinDashboardsValid: every built-in dashboard parses and validates,
// and the pages the UI links to exist.
func TestBuiltinDashboardsValid(t *testing.T) {
	t.Parallel()
	entries, err := loadAll(webassets.Assets, "")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, e := range entries {
		if e.Error != "" {
			t.Errorf("%s: %s", e.ID, e.Error)
		}
		ids[e.ID] = true
	}
	for _, want := range []string{"overview", "container", "pod", "kubernetes"} {
		if !ids[want] {
			t.Errorf("no built-in dashboard %q", want)
		}
	}
}

func TestParseDashboardErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, want string
	}{
		{"empty", "", "empty file"},
		{"not yaml", "title: [", "yaml:"},
		{"unknown field", "title: x\npanelz: []\n", "field panelz not found"},
		{"no title", "panels: [{title: a, targets: [{expr: up}]}]\n", "title: missing"},
		{"no panels", "title: x\n", "panels: none"},
		{"bad id", "id: 'a b'\ntitle: x\npanels: [{title: a, targets: [{expr: up}]}]\n", `id "a b"`},
		{"bad type", "title: x\npanels: [{title: a, type: pie, targets: [{expr: up}]}]\n", `type "pie" is not one of`},
		{"no targets", "title: x\npanels: [{title: a}]\n", "needs targets"},
		{"bad unit", "title: x\npanels: [{title: a, unit: furlongs, targets: [{expr: up}]}]\n", `unit "furlongs"`},
		{"bad expr", "title: x\npanels: [{title: a, targets: [{expr: 'rate(up[5m]'}]}]\n", "panels[0] (a): targets[0]: expr \"rate(up[5m]\": 1:12: parse error: unclosed left parenthesis"},
		{"unknown var", "title: x\npanels: [{title: a, targets: [{expr: 'up{job=\"$job\"}'}]}]\n", "$job, which is not a variable"},
		{"bad var query", "title: x\nvariables: [{name: v, query: 'up'}]\npanels: [{title: a, targets: [{expr: up}]}]\n", "label_values"},
		{"bad var name", "title: x\nvariables: [{name: __x, query: 'label_values(job)'}]\npanels: [{title: a, targets: [{expr: up}]}]\n", "name must be"},
		{"dup var", "title: x\nvariables: [{name: v, query: 'label_values(job)'}, {name: v, query: 'label_values(job)'}]\npanels: [{title: a, targets: [{expr: up}]}]\n", "defined twice"},
		{"custom without options", "title: x\nvariables: [{name: v, type: custom}]\npanels: [{title: a, targets: [{expr: up}]}]\n", "needs options"},
		{"bad grid", "title: x\npanels: [{title: a, gridPos: {w: 30}, targets: [{expr: up}]}]\n", "gridPos"},
		{"bad interval", "title: x\npanels: [{title: a, interval: soon, targets: [{expr: up}]}]\n", "interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseDashboard(strings.NewReader(tc.body), "d")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParseDashboardGood(t *testing.T) {
	t.Parallel()
	// JSON is YAML too: a dashboard may be written in either.
	for _, body := range []string{
		`title: Mine
variables:
  - {name: job, query: 'label_values(up, job)', includeAll: true, multi: true}
  - {name: mode, type: custom, options: [idle, user]}
panels:
  - {title: Up, targets: [{expr: 'up{job=~"$job"}', legendFormat: '{{instance}}'}]}
  - {title: CPU, unit: cores, stack: true, targets: [{expr: 'rate(node_cpu_seconds_total{mode="${mode}"}[$__rate_interval])'}]}
  - {title: Rows, type: row}
  - {title: Replace, type: table, targets: [{expr: 'label_replace(up, "x", "$1", "job", "(.*)")'}]}
`,
		`{"title": "Mine", "panels": [{"title": "Up", "targets": [{"expr": "up"}]}]}`,
	} {
		d, err := ParseDashboard(strings.NewReader(body), "mine")
		if err != nil {
			t.Fatalf("%v\n%s", err, body)
		}
		if d.ID != "mine" || d.Panels[0].Type != "timeseries" {
			t.Errorf("id %q, first panel type %q", d.ID, d.Panels[0].Type)
		}
	}
}

// TestDashboardsDir: a user's file is listed, one with a built-in's id
// replaces it, and a bad one is listed with its error instead of hiding the rest.
func TestDashboardsDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		"mine.yaml":     "title: Mine\npanels: [{title: a, targets: [{expr: up}]}]\n",
		"overview.yml":  "title: My overview\npanels: [{title: a, targets: [{expr: up}]}]\n",
		"broken.json":   `{"title": "B", "panels": [{"title": "x", "targets": [{"expr": "sum("}]}]}`,
		"notes.txt":     "ignored",
		"explicit.yaml": "id: other-id\ntitle: Other\npanels: [{title: a, targets: [{expr: up}]}]\n",
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := loadAll(webassets.Assets, dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Entry{}
	for _, e := range entries {
		got[e.ID] = e
	}
	if e := got["mine"]; e.Title != "Mine" || e.Error != "" || e.Source != filepath.Join(dir, "mine.yaml") {
		t.Errorf("mine: %+v", e)
	}
	if e := got["overview"]; e.Title != "My overview" {
		t.Errorf("overview not replaced: %+v", e)
	}
	if e := got["broken"]; !strings.Contains(e.Error, "broken.json") || !strings.Contains(e.Error, "parse error") {
		t.Errorf("broken: %+v", e)
	}
	if e := got["other-id"]; e.Title != "Other" {
		t.Errorf("explicit id: %+v", e)
	}
	if _, ok := got["notes"]; ok {
		t.Error("notes.txt was read as a dashboard")
	}
	if _, ok := got["container"]; !ok {
		t.Error("the built-in container dashboard is gone")
	}
}

// FuzzParseDashboard: any bytes give a dashboard or an error, never a panic.
func FuzzParseDashboard(f *testing.F) {
	names, _ := fs.Glob(webassets.Assets, "dashboards/*.yaml")
	for _, n := range names {
		b, _ := fs.ReadFile(webassets.Assets, n)
		f.Add(b)
	}
	f.Add([]byte(`{"title": "x", "panels": [{"title": "y", "targets": [{"expr": "up"}]}]}`))
	f.Add([]byte("title: x\npanels: [{title: y, targets: [{expr: '$a'}]}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 64<<10 {
			return
		}
		d, err := ParseDashboard(strings.NewReader(string(b)), "f")
		if err == nil && (d.Title == "" || len(d.Panels) == 0) {
			t.Fatalf("accepted a dashboard without title or panels: %+v", d)
		}
	})
}

func TestSubstituteVars(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"instance": "host:9100", "__rate_interval": "135s"}
	for _, tc := range []struct{ in, want string }{
		{`rate(x{instance="$instance"}[$__rate_interval])`, `rate(x{instance="host:9100"}[135s])`},
		{`x{instance="${instance}"} + y{i="[[instance]]"}`, `x{instance="host:9100"} + y{i="host:9100"}`},
		{`label_replace(x, "a", "$1", "b", "(.*)") * $unknown`, `label_replace(x, "a", "$1", "b", "(.*)") * $unknown`},
	} {
		if got := SubstituteVars(tc.in, vars); got != tc.want {
			t.Errorf("SubstituteVars(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLabelValuesQuery(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		q, selector, label string
		ok                 bool
	}{
		{`label_values(node_uname_info, instance)`, "node_uname_info", "instance", true},
		{` label_values( job ) `, "", "job", true},
		{`label_values(up{job="$job"}, instance)`, `up{job="$job"}`, "instance", true},
		{`query_result(up)`, "", "", false},
	} {
		sel, label, ok := LabelValuesQuery(tc.q)
		if sel != tc.selector || label != tc.label || ok != tc.ok {
			t.Errorf("LabelValuesQuery(%q) = %q, %q, %v; want %q, %q, %v", tc.q, sel, label, ok, tc.selector, tc.label, tc.ok)
		}
	}
}
