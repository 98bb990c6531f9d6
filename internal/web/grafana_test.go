package web

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/grafana/*.golden.json")

func grafanaFiles(t testing.TB) []string {
	files, err := filepath.Glob("testdata/grafana/*.json")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".golden.json") {
			out = append(out, f)
		}
	}
	return out
}

func importFile(t *testing.T, path string) *Dashboard {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !IsGrafanaJSON(b) {
		t.Fatalf("%s is not recognised as a Grafana dashboard", path)
	}
	d, err := ParseGrafanaDashboard(bytes.NewReader(b), strings.TrimSuffix(filepath.Base(path), ".json"))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return d
}

// typeCounts counts the panels by type, rows and nested panels included;
// a placeholder counts as "placeholder:<its type>".
func typeCounts(ps []Panel) map[string]int {
	out := map[string]int{}
	walkPanels(ps, func(p *Panel) {
		k := p.Type
		if k == "placeholder" {
			k += ":" + p.OriginalType
		}
		out[k]++
	})
	return out
}

func unresolvedNames(s *ImportSummary) []string {
	out := []string{}
	for _, u := range s.Unresolved {
		out = append(out, u.Name)
	}
	sort.Strings(out)
	return out
}

// TestGrafanaImport imports each test dashboard and checks what it became
// against expectations written here, then the whole model against its
// golden file (go test -run TestGrafanaImport -update rewrites them).
func TestGrafanaImport(t *testing.T) {
	t.Parallel()
	want := map[string]struct {
		id         string
		types      map[string]int
		rendered   int
		unresolved []string
		vars       map[string]string // name: type
	}{
		"node-host": {"node-host", map[string]int{"row": 4, "gauge": 2, "stat": 4, "timeseries": 7, "bargauge": 1}, 14, []string{},
			map[string]string{"job": "query", "instance": "query", "diskdevices": "query"}},
		"k8s-compute-cluster": {"k8s-resources-cluster", map[string]int{"row": 5, "stat": 4, "timeseries": 3, "table": 1}, 8, []string{},
			map[string]string{"cluster": "query", "namespace": "query"}},
		"k8s-compute-namespace": {"k8s-resources-namespace", map[string]int{"timeseries": 5, "table": 1}, 6, []string{},
			map[string]string{"namespace": "query", "pod": "query", "node": "query"}},
		"kube-state-objects":  {"kube-state-objects", map[string]int{"stat": 5, "gauge": 1, "piechart": 2, "bargauge": 1, "table": 1}, 10, []string{}, map[string]string{}},
		"cadvisor-containers": {"cadvisor", map[string]int{"timeseries": 4, "heatmap": 2}, 6, []string{}, map[string]string{"container": "query"}},
		"prometheus-alertmanager": {"prom-am-self", map[string]int{
			"stat": 2, "timeseries": 3, "placeholder:alertlist": 1, "placeholder:state-timeline": 1, "placeholder:news": 1,
			"placeholder:dashlist": 1, "placeholder:nodeGraph": 1, "placeholder:timeseries": 1, "placeholder:grafana-worldmap-panel": 1,
		}, 5, []string{}, map[string]string{}},
		"variables": {"variables", map[string]int{"timeseries": 4, "stat": 3}, 7, []string{"cluster", "environment"}, map[string]string{
			"cluster": "textbox", "resolution": "interval", "mode": "custom", "size": "custom", "threshold": "constant", "jobfilter": "textbox",
			"job": "query", "instance": "query", "metric": "query", "label": "query", "environment": "textbox",
		}},
		"repeated-rows": {"repeated-rows", map[string]int{"stat": 1, "row": 2, "timeseries": 3, "gauge": 1, "bargauge": 1}, 6, []string{},
			map[string]string{"instance": "query", "device": "query"}},
		"links-and-text": {"links-text", map[string]int{"text": 3, "timeseries": 1, "stat": 1}, 5, []string{}, map[string]string{}},
		"all-panel-types": {"all-panel-types", map[string]int{
			"row": 3, "timeseries": 2, "stat": 1, "gauge": 1, "bargauge": 1, "table": 1, "text": 1, "heatmap": 1, "piechart": 1,
			"placeholder:xychart": 1, "placeholder:canvas": 1,
		}, 9, []string{}, map[string]string{}},
		"legacy-rows": {"legacy-rows", map[string]int{"row": 2, "timeseries": 2, "stat": 2, "text": 1}, 5, []string{}, map[string]string{"node": "query"}},
		"api-wrapper": {"wrapped", map[string]int{"timeseries": 1}, 1, []string{}, map[string]string{}},
	}
	files := grafanaFiles(t)
	if len(files) < 10 {
		t.Fatalf("%d test dashboards, want at least 10", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w, ok := want[name]
			if !ok {
				t.Fatalf("no expectations for %s: add them to the table", f)
			}
			d := importFile(t, f)
			if d.ID != w.id {
				t.Errorf("id %q, want %q", d.ID, w.id)
			}
			if got := typeCounts(d.Panels); !reflect.DeepEqual(got, w.types) {
				t.Errorf("panel types\n got %v\nwant %v", got, w.types)
			}
			s := d.Import
			if s == nil || s.Format != "grafana" {
				t.Fatalf("import summary %+v", s)
			}
			placeholders := 0
			for k, n := range w.types {
				if strings.HasPrefix(k, "placeholder:") {
					placeholders += n
				}
			}
			if s.Rendered != w.rendered || len(s.Placeholders) != placeholders || s.Panels != w.rendered+placeholders {
				t.Errorf("summary panels %d rendered %d placeholders %d, want %d %d %d", s.Panels, s.Rendered, len(s.Placeholders), w.rendered+placeholders, w.rendered, placeholders)
			}
			if got := unresolvedNames(s); !reflect.DeepEqual(got, w.unresolved) {
				t.Errorf("unresolved %v, want %v", got, w.unresolved)
			}
			gotVars := map[string]string{}
			for _, v := range d.Variables {
				gotVars[v.Name] = v.Type
			}
			if !reflect.DeepEqual(gotVars, w.vars) {
				t.Errorf("variables %v, want %v", gotVars, w.vars)
			}
			got, err := json.MarshalIndent(d, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(f, ".json") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			wantB, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, wantB) {
				t.Errorf("%s differs from the import; run with -update and review the diff", golden)
			}
		})
	}
}

// TestGrafanaDetails checks field by field what the golden files only show.
func TestGrafanaDetails(t *testing.T) {
	t.Parallel()
	node := importFile(t, "testdata/grafana/node-host.json")
	cpu := node.Panels[1]
	if cpu.Type != "gauge" || cpu.Unit != "percent" || *cpu.Decimals != 1 || *cpu.Min != 0 || *cpu.Max != 100 ||
		cpu.Thresholds == nil || len(cpu.Thresholds.Steps) != 3 || cpu.Thresholds.Steps[0].Value != nil || *cpu.Thresholds.Steps[2].Value != 95 ||
		cpu.Reduce != "lastNotNull" || !cpu.Targets[0].Instant {
		t.Errorf("CPU Busy gauge: %+v %+v", cpu, cpu.Thresholds)
	}
	disk := node.Panels[10]
	if disk.Type != "row" || !disk.Collapsed || len(disk.Panels) != 3 || disk.Panels[1].Unit != "Bps" {
		t.Errorf("collapsed Disk row: %+v", disk)
	}
	if v := node.Variables[2]; v.Name != "diskdevices" || !v.Hide || !v.IncludeAll || !v.Multi || v.Default != nil || v.AllValue == nil {
		t.Errorf("diskdevices: %+v", v)
	}
	if v := node.Variables[1]; v.Query != `label_values(node_uname_info{job="$job"}, instance)` || v.Default == nil || *v.Default != "localhost:9100" || v.Label != "Host" {
		t.Errorf("instance: %+v", v)
	}
	if len(node.Links) != 1 || node.Links[0].URL != "https://github.com/prometheus/node_exporter" || !reflect.DeepEqual(node.Tags, []string{"linux", "node_exporter"}) {
		t.Errorf("links %+v tags %v", node.Links, node.Tags)
	}

	vars := importFile(t, "testdata/grafana/variables.json")
	byName := map[string]Variable{}
	for _, v := range vars.Variables {
		byName[v.Name] = v
	}
	if v := byName["resolution"]; !reflect.DeepEqual(v.Options, []string{"auto", "1m", "5m", "10m", "30m", "1h"}) || *v.Default != "auto" {
		t.Errorf("interval: %+v", v)
	}
	if v := byName["mode"]; !reflect.DeepEqual(v.Options, []string{"user", "system", "iowait"}) || *v.Default != "user" || !v.IncludeAll {
		t.Errorf("custom: %+v", v)
	}
	if v := byName["size"]; !reflect.DeepEqual(v.Options, []string{"1", "5", "10"}) {
		t.Errorf("custom from query: %+v", v)
	}
	if v := byName["threshold"]; *v.Default != "4" || !v.Hide {
		t.Errorf("constant: %+v", v)
	}
	if v := byName["jobfilter"]; *v.Default != "node|prometheus" {
		t.Errorf("textbox: %+v", v)
	}
	if v := byName["instance"]; v.Regex != "/([^:]+):.*/" {
		t.Errorf("regex: %+v", v)
	}
	if v := byName["environment"]; v.Type != "textbox" || *v.Default != "prod" {
		t.Errorf("unsupported query kept as a text box: %+v", v)
	}
	if v := byName["cluster"]; v.Type != "textbox" || !v.Hide || *v.Default != "" || vars.Variables[0].Name != "cluster" {
		t.Errorf("undefined variable: %+v", v)
	}
	if vars.Panels[6].Unit != "" || vars.Panels[5].Reduce != "sum" {
		t.Errorf("unknown unit %q, delta reducer %q", vars.Panels[6].Unit, vars.Panels[5].Reduce)
	}

	legacy := importFile(t, "testdata/grafana/legacy-rows.json")
	g := legacy.Panels[1]
	if g.Type != "timeseries" || !g.Stack || g.Unit != "percentunit" || *g.Min != 0 || *g.Max != 1 || *g.Decimals != 1 || g.GridPos.W != 12 || g.GridPos.H != 9 {
		t.Errorf("legacy graph: %+v %+v", g, g.GridPos)
	}
	st := legacy.Panels[2]
	if st.Type != "stat" || st.Unit != "bytes" || st.Reduce != "lastNotNull" || len(st.Thresholds.Steps) != 3 || *st.Thresholds.Steps[1].Value != 1e9 {
		t.Errorf("legacy singlestat: %+v", st)
	}
	if tx := legacy.Panels[3]; tx.Type != "text" || !strings.Contains(tx.Text, "Grafana 5") {
		t.Errorf("legacy text: %+v", tx)
	}
	if net := legacy.Panels[4]; !net.Collapsed || len(net.Panels) != 2 || net.Panels[0].Unit != "Bps" {
		t.Errorf("collapsed legacy row: %+v", net)
	}

	rr := importFile(t, "testdata/grafana/repeated-rows.json")
	if r := rr.Panels[1]; r.Type != "row" || r.Repeat != "instance" {
		t.Errorf("repeated row: %+v", r)
	}
	if r := rr.Panels[5]; r.Repeat != "device" || !r.Collapsed || r.Panels[0].Repeat != "instance" || r.Panels[0].MaxPerRow != 4 {
		t.Errorf("collapsed repeated row: %+v", r)
	}
	if th := rr.Panels[4].Thresholds; th.Mode != "percentage" {
		t.Errorf("threshold mode %+v", th)
	}

	kso := importFile(t, "testdata/grafana/kube-state-objects.json")
	if p := kso.Panels[6]; p.PieType != "donut" {
		t.Errorf("pie: %+v", p)
	}
	if p := kso.Panels[7]; p.Orientation != "vertical" {
		t.Errorf("bargauge: %+v", p)
	}
	if p := kso.Panels[2]; p.Reduce != "min" {
		t.Errorf("stat reduce: %+v", p)
	}

	all := importFile(t, "testdata/grafana/all-panel-types.json")
	if p := all.Panels[len(all.Panels)-1]; p.Interval != "15s" {
		t.Errorf("interval >15s read as %q", p.Interval)
	}
	if p := all.Panels[5].Panels[0]; !p.Targets[1].Hide || p.Targets[0].Format != "table" {
		t.Errorf("table targets: %+v", p.Targets)
	}
	cad := importFile(t, "testdata/grafana/cadvisor-containers.json")
	if p := cad.Panels[5]; p.Type != "heatmap" || p.Targets[0].Format != "heatmap" || p.Interval != "1m" {
		t.Errorf("legacy heatmap: %+v", p)
	}
	if p := cad.Panels[4]; p.Interval != "30s" || p.MaxDataPoints != 50 {
		t.Errorf("heatmap: %+v", p)
	}
	lt := importFile(t, "testdata/grafana/links-and-text.json")
	if len(lt.Links) != 2 || len(lt.Panels[2].Links) != 2 || !strings.HasPrefix(lt.Panels[0].Text, "# Service overview") {
		t.Errorf("links %+v, panel links %+v", lt.Links, lt.Panels[2].Links)
	}
}

// TestGrafanaRoundTrip: import, export and import again give the same
// model; the export has what Grafana requires.
func TestGrafanaRoundTrip(t *testing.T) {
	t.Parallel()
	for _, f := range grafanaFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			d1 := importFile(t, f)
			out, err := json.Marshal(ExportGrafana(d1))
			if err != nil {
				t.Fatal(err)
			}
			checkGrafanaSchema(t, out)
			if !IsGrafanaJSON(out) {
				t.Fatal("the export is not recognised as Grafana's")
			}
			d2, err := ParseGrafanaDashboard(bytes.NewReader(out), "other-name")
			if err != nil {
				t.Fatalf("re-import: %v\n%s", err, out)
			}
			d1.Import, d2.Import = nil, nil
			if !reflect.DeepEqual(d1, d2) {
				a, _ := json.MarshalIndent(d1, "", " ")
				b, _ := json.MarshalIndent(d2, "", " ")
				t.Errorf("round trip differs:\n%s", firstDiff(string(a), string(b)))
			}
		})
	}
}

// TestExportBuiltins: Panoptes' own dashboards export to valid Grafana
// JSON that imports back.
func TestExportBuiltins(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, "")
	for _, e := range h.builtins {
		out, err := json.Marshal(ExportGrafana(e.dash))
		if err != nil {
			t.Fatal(err)
		}
		checkGrafanaSchema(t, out)
		d, err := ParseGrafanaDashboard(bytes.NewReader(out), "x")
		if err != nil {
			t.Errorf("%s: re-import: %v", e.ID, err)
			continue
		}
		if d.ID != e.ID || d.Title != e.dash.Title || len(d.Panels) != len(e.dash.Panels) {
			t.Errorf("%s: came back as %s %q with %d panels", e.ID, d.ID, d.Title, len(d.Panels))
		}
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			lo := max(i-5, 0)
			return fmt.Sprintf("line %d\n--- first\n%s\n--- second\n%s", i+1, strings.Join(al[lo:min(i+3, len(al))], "\n"), strings.Join(bl[lo:min(i+3, len(bl))], "\n"))
		}
	}
	return fmt.Sprintf("lengths %d and %d lines", len(al), len(bl))
}

// checkGrafanaSchema checks what Grafana's dashboard schema requires of
// an export: uid, title, schemaVersion, and panels with a type, a gridPos
// and an id unique in the dashboard; rows carry a panels list.
func checkGrafanaSchema(t *testing.T, b []byte) {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"uid", "title", "schemaVersion", "panels", "templating"} {
		if _, ok := d[k]; !ok {
			t.Errorf("export lacks %q", k)
		}
	}
	if v, _ := d["schemaVersion"].(float64); v != 39 {
		t.Errorf("schemaVersion %v", d["schemaVersion"])
	}
	ids := map[float64]bool{}
	var check func(ps []any, at string)
	check = func(ps []any, at string) {
		for i, x := range ps {
			p, _ := x.(map[string]any)
			where := fmt.Sprintf("%s[%d]", at, i)
			if typ, _ := p["type"].(string); typ == "" || typ == "placeholder" {
				t.Errorf("%s: type %v", where, p["type"])
			}
			id, _ := p["id"].(float64)
			if id == 0 || ids[id] {
				t.Errorf("%s: id %v missing or used twice", where, p["id"])
			}
			ids[id] = true
			g, _ := p["gridPos"].(map[string]any)
			for _, k := range []string{"x", "y", "w", "h"} {
				if _, ok := g[k].(float64); !ok {
					t.Errorf("%s: gridPos.%s missing", where, k)
				}
			}
			if p["type"] == "row" {
				sub, ok := p["panels"].([]any)
				if !ok {
					t.Errorf("%s: a row without panels[]", where)
				}
				check(sub, where+".panels")
			}
		}
	}
	ps, _ := d["panels"].([]any)
	check(ps, "panels")
}

func TestGrafanaErrors(t *testing.T) {
	t.Parallel()
	const head = `{"schemaVersion": 39, "title": "T", `
	for _, tc := range []struct{ name, body, want string }{
		{"empty", "", "empty file"},
		{"not json", "{\n  \"title\": \"x\",\n  \"panels\": [,]\n}", "json: 3:14:"},
		{"wrong type", head + `"panels": {"a": 1}}`, "json: 1:"},
		{"no title", `{"schemaVersion": 39, "panels": [{"type": "text", "title": "x"}]}`, "title: missing"},
		{"no panels", head + `"panels": []}`, "panels: none"},
		{"bad expr", head + `"panels": [{"type": "text", "title": "a"}, {"type": "timeseries", "title": "CPU", "targets": [{"expr": "rate(x[5m]"}]}]}`,
			`panels[1] (CPU): targets[0]: expr "rate(x[5m]"`},
		{"bad nested expr", head + `"panels": [{"type": "row", "title": "r", "collapsed": true, "panels": [{"type": "stat", "title": "S", "targets": [{"expr": "sum("}]}]}]}`,
			`panels[0].panels[0] (S): targets[0]`},
		{"bad variable name", head + `"templating": {"list": [{"type": "custom", "name": "a b", "query": "x"}]}, "panels": [{"type": "text", "title": "a"}]}`,
			`variables[0] (a b): name must be`},
		{"builtin-like variable", head + `"panels": [{"type": "stat", "title": "S", "targets": [{"expr": "up[$__auto]"}]}]}`,
			`$__auto, which is not a variable`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseGrafanaDashboard(strings.NewReader(tc.body), "d")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestIsGrafanaJSON(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]bool{
		`{"title": "x", "panels": [], "schemaVersion": 39}`:                       true,
		`{"dashboard": {"title": "x", "rows": [], "schemaVersion": 6}}`:           true,
		`{"title": "x", "panels": [{"title": "a", "targets": [{"expr": "up"}]}]}`: false,
		`{"title": "x", "schemaVersion": 39}`:                                     false,
		`[1, 2]`:                                                                  false,
		`title: x`:                                                                false,
	} {
		if got := IsGrafanaJSON([]byte(body)); got != want {
			t.Errorf("%s: %v, want %v", body, got, want)
		}
	}
}

// FuzzParseGrafanaDashboard: any bytes give a dashboard that validates,
// and exports and imports again, or an error; never a panic.
func FuzzParseGrafanaDashboard(f *testing.F) {
	for _, p := range grafanaFiles(f) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"rows": [{"panels": [{"type": "graph", "span": "x", "targets": [{"expr": "up"}]}]}], "title": "t"}`))
	f.Add([]byte(`{"panels": [{"type": "row", "collapsed": true, "panels": [{"type": "row"}]}], "title": "t", "schemaVersion": 1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 256<<10 {
			return
		}
		d, err := ParseGrafanaDashboard(bytes.NewReader(b), "f")
		if err != nil {
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("accepted a dashboard that does not validate: %v", err)
		}
		out, err := json.Marshal(ExportGrafana(d))
		if err != nil {
			t.Fatalf("export: %v", err)
		}
		if _, err := ParseGrafanaDashboard(bytes.NewReader(out), "f"); err != nil {
			t.Fatalf("the export does not import: %v\n%s", err, out)
		}
	})
}

// TestGrafanaVariableForms: ${var:format} and $__auto_interval_var, which
// the model does not have, import as ${var}, with a note.
func TestGrafanaVariableForms(t *testing.T) {
	t.Parallel()
	body := `{"schemaVersion": 22, "title": "Forms", "templating": {"list": [
  {"type": "interval", "name": "iv", "auto": true, "query": "1m,5m"},
  {"type": "custom", "name": "inst", "multi": true, "query": "a,b"}]},
  "panels": [{"type": "graph", "title": "G", "targets": [{"expr": "rate(up{instance=~\"${inst:pipe}\"}[$__auto_interval_iv])"}]}]}`
	d, err := ParseGrafanaDashboard(strings.NewReader(body), "forms")
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Panels[0].Targets[0].Expr; got != `rate(up{instance=~"${inst}"}[${iv}])` {
		t.Errorf("expr %q", got)
	}
	if len(d.Import.Ignored) != 1 || !strings.Contains(d.Import.Ignored[0], "${var:format}") {
		t.Errorf("notes %q", d.Import.Ignored)
	}
}
