package ui

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// grafanaTestdata holds the importer's own test dashboards, written in
// Grafana's export format (the .golden.json files beside them are the
// importer's expected conversions, not dashboards).
const grafanaTestdata = "../../internal/web/testdata/grafana"

// grafanaFolders puts some of the dashboards in a folder (a nested one, so
// that the folder is a path) of --web.dashboards-dir; the others lie at its
// top.
var grafanaFolders = map[string]string{
	"k8s-compute-cluster.json":   "infra/k8s",
	"k8s-compute-namespace.json": "infra/k8s",
	"kube-state-objects.json":    "infra/k8s",
	"cadvisor-containers.json":   "containers",
}

// grafanaNoData lists, per dashboard id, the panels that may honestly say
// "No data" here: their metrics do not exist on this machine (no
// Kubernetes cluster, no container runtime, no Alertmanager target) or are
// not among what Panoptes exports (Prometheus' own HTTP and scrape
// histograms), or their query selects nothing by design. Every other panel
// that queries must draw data; none may fail. The value says why.
var grafanaNoData = map[string]map[string]string{
	"all-panel-types": {
		"timeseries": "prometheus_http_requests_total: Panoptes does not export Prometheus' HTTP metrics",
		"heatmap":    "prometheus_http_response_size_bytes_bucket: not exported by Panoptes",
	},
	"cadvisor": {
		"Container CPU":                    `container_cpu_usage_seconds_total{image!=""}: no container runtime here, so no container has an image`,
		"Container memory":                 `container_memory_working_set_bytes{image!=""}: as above`,
		"Network I/O":                      "container_network_*_bytes_total: only for a container in its own network namespace, which this machine may not have",
		"Filesystem writes":                "container_fs_writes_bytes_total: no container runtime here",
		"Request latency (histogram)":      "prometheus_http_request_duration_seconds_bucket: not exported by Panoptes",
		"Scrape duration (legacy heatmap)": "prometheus_target_interval_length_seconds_bucket: not exported by Panoptes",
	},
	"k8s-resources-cluster": {
		"CPU Utilisation":            "a kubernetes-mixin recording rule over a cluster's nodes: no cluster here",
		"CPU Requests Commitment":    "kube_pod_container_resource_requests: no cluster here",
		"Memory Utilisation":         "a kubernetes-mixin recording rule: no cluster here",
		"Memory Requests Commitment": "kube_pod_container_resource_requests: no cluster here",
		"CPU Usage":                  "kubelet container metrics by namespace: no cluster here",
		"CPU Quota":                  "kube_pod_container_resource_*: no cluster here",
		"Memory Usage (w/o cache)":   "kubelet container metrics by namespace: no cluster here",
		"CPU in kube-system":         "the row repeated for the namespace variable's saved value: no cluster here",
	},
	"k8s-resources-namespace": {
		"CPU Usage":          "kubelet container metrics by pod: no cluster here",
		"CPU Quota":          "kube_pod_container_resource_*: no cluster here",
		"Memory Usage (WSS)": "kubelet container metrics by pod: no cluster here",
		"Memory RSS":         "kubelet container metrics by pod: no cluster here",
		"Receive Bandwidth":  "pod network metrics: no cluster here",
	},
	"kube-state-objects": {
		"Deployments":                   "kube-state-metrics' kube_deployment_*: no cluster here",
		"Pods running":                  "kube_pod_status_phase: no cluster here",
		"Nodes ready":                   "kube_node_status_condition: no cluster here",
		"Ready pods":                    "kube_pod_status_ready: no cluster here",
		"Jobs failed":                   "kube_job_status_failed: no cluster here",
		"Newest pod":                    "kube_pod_created: no cluster here",
		"Pods by phase":                 "kube_pod_status_phase: no cluster here",
		"Deployment replicas available": "kube_deployment_status_replicas_available: no cluster here",
		"Pods by namespace":             "kube_pod_info: no cluster here",
		"Deployments not at spec":       "kube_deployment_*: no cluster here",
	},
	"prom-am-self": {
		"Alertmanager instances": `up{job="alertmanager"}: the all-in-one's Alertmanager is not a scrape target`,
		"Notifications sent":     "alertmanager_notifications_total: not exported by Panoptes' Alertmanager",
		"Threshold":              "count(node_load1 > 4): empty while this machine's load is under 4",
	},
	"variables": {
		"Per cluster (unknown variable)": `up{cluster=""}: the dashboard uses a variable it does not define, which the import makes an empty text box`,
		"Threshold":                      "count(node_load1 > $threshold), the constant 4: empty while this machine's load is under it, drawn when over",
	},
}

// dashModel is what GET /api/ui/dashboards/<id> returns, as far as the test
// needs it.
type dashModel struct {
	ID     string       `json:"id"`
	Title  string       `json:"title"`
	Tags   []string     `json:"tags"`
	Panels []modelPanel `json:"panels"`
	Import *struct {
		Panels       int `json:"panels"`
		Rendered     int `json:"rendered"`
		Placeholders []struct {
			Panel string `json:"panel"`
			Type  string `json:"type"`
		} `json:"placeholders"`
		UnresolvedVariables []struct {
			Name string `json:"name"`
		} `json:"unresolvedVariables"`
	} `json:"import"`
}

type modelPanel struct {
	Title        string       `json:"title"`
	Type         string       `json:"type"`
	OriginalType string       `json:"originalType"`
	Panels       []modelPanel `json:"panels"`
}

// dashEntry is one row of GET /api/ui/dashboards.
type dashEntry struct {
	ID     string   `json:"id"`
	Title  string   `json:"title"`
	Source string   `json:"source"`
	Folder string   `json:"folder"`
	Tags   []string `json:"tags"`
	Format string   `json:"format"`
	Error  string   `json:"error"`
}

// getJSON fetches a path of the server and decodes its body; an API
// envelope ({"status","data"}) is unwrapped.
func getJSON[T any](t *testing.T, s *server, path string, envelope bool) T {
	t.Helper()
	resp, err := http.Get(s.url(path)) //nolint:noctx // loopback, test
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	var out T
	if envelope {
		var env struct {
			Status string `json:"status"`
			Data   T      `json:"data"`
		}
		if err := json.Unmarshal(body, &env); err != nil || env.Status != "success" {
			t.Fatalf("GET %s: %v: %s", path, err, body)
		}
		return env.Data
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	return out
}

// walkPanels lists the model's panels, a collapsed row's own after it.
func walkPanels(ps []modelPanel) []modelPanel {
	var out []modelPanel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, walkPanels(p.Panels)...)
	}
	return out
}

// sectionsJS lists the page's panels as the UI accounts for them in
// window.__panoptes.panels: every section.panel but text panels, in order.
const sectionsJS = `[...document.querySelectorAll('section.panel')].filter(e => e.dataset.type !== "text")`

// shownPanel is a panel on the page with the UI's state of it.
type shownPanel struct {
	Title  string `json:"title"`
	Type   string `json:"type"`
	Hidden bool   `json:"hidden"`
	Text   string `json:"text"`
	State  string `json:"state"`
	Error  string `json:"error"`
	// Queries are the expressions last sent, variables substituted.
	Queries []string `json:"queries"`
}

// loadAll scrolls each panel of the page into view in turn and waits until
// it has finished (data, no data or an error): panels outside the viewport
// are only queried when scrolled to. Panels of closed rows are skipped.
func loadAll(b *browser) {
	b.t.Helper()
	n := eval[int](b, sectionsJS+`.length`)
	if m := eval[int](b, `window.__panoptes.panels.length`); m != n {
		b.t.Fatalf("%d panels on the page, %d in window.__panoptes.panels", n, m)
	}
	for i := range n {
		idx := strconv.Itoa(i)
		shown := eval[bool](b, `(() => { const e = `+sectionsJS+`[`+idx+`]; if (!e || e.hidden) return false; e.scrollIntoView({block: "center"}); return true; })()`)
		if !shown {
			continue
		}
		b.poll(`window.__panoptes.ready && ["ok", "nodata", "error"].includes(window.__panoptes.panels[`+idx+`].state)`, time.Minute)
	}
}

// openRows opens every collapsed row, the row repeated or not.
func openRows(b *browser) int {
	b.t.Helper()
	return eval[int](b, `(() => { const rows = [...document.querySelectorAll('h2.row-title.collapsed')]; rows.forEach(r => r.click()); return rows.length; })()`)
}

// TestGrafanaDashboards: every Grafana dashboard of the importer's tests,
// put in --web.dashboards-dir unchanged, loads in the browser: each panel
// that is not a placeholder draws its data once scrolled to (collapsed rows
// opened), each placeholder names its Grafana type, the import summary is
// on the page, and nothing logs an error. Then the Dashboards page lists
// them with folder and tags and its search filters them, and a dashboard
// exported as Grafana JSON, put back under another uid, loads the same.
func TestGrafanaDashboards(t *testing.T) {
	requireChromium(t)
	files, err := filepath.Glob(filepath.Join(grafanaTestdata, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	files = slices.DeleteFunc(files, func(f string) bool { return strings.HasSuffix(f, ".golden.json") })
	if len(files) < 10 {
		t.Fatalf("only %d Grafana test dashboards in %s", len(files), grafanaTestdata)
	}
	dir := t.TempDir()
	byFile := map[string]string{} // file name -> its copy's path
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		sub := filepath.Join(dir, filepath.FromSlash(grafanaFolders[name]))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		byFile[name] = filepath.Join(sub, name)
		if err := os.WriteFile(byFile[name], body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := startServer(t, "--web.dashboards-dir="+dir)
	settle(t, s)
	// The panels' windows are aligned to their step (up to 32 s here, the
	// widest $__rate_interval or panel interval these dashboards ask for):
	// the newest step has two samples in its window once the host's series
	// hold 20 collections.
	s.waitFor(t, `count_over_time(node_cpu_seconds_total{cpu="0",mode="idle"}[1m]) >= 20`)
	// The rule evaluation histogram has quantiles once rules were evaluated.
	s.waitFor(t, `prometheus_rule_evaluation_duration_seconds{quantile="0.99"} >= 0`)

	// The id of each file is its uid (or its name): the list says which.
	list := getJSON[[]dashEntry](t, s, "/api/ui/dashboards", true)
	entries := map[string]dashEntry{} // by file name
	for _, e := range list {
		for name, p := range byFile {
			if e.Source == p {
				entries[name] = e
			}
		}
	}
	for name := range byFile {
		e, ok := entries[name]
		switch {
		case !ok:
			t.Errorf("%s is not in the dashboards list: %+v", name, list)
		case e.Error != "":
			t.Errorf("%s did not import: %s", name, e.Error)
		case e.Format != "grafana":
			t.Errorf("%s is listed as format %q, want grafana", name, e.Format)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	names := make([]string, 0, len(byFile))
	for name := range byFile {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		e := entries[name]
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			checkGrafanaDashboard(t, s, e.ID)
		})
	}

	t.Run("list", func(t *testing.T) {
		b := newBrowser(t, 1400, 1000)
		b.open(s.url("/#/dashboards"))
		type row struct {
			ID     string   `json:"id"`
			Folder string   `json:"folder"`
			Tags   []string `json:"tags"`
			Format string   `json:"format"`
			Error  string   `json:"error"`
		}
		const rowsJS = `[...document.querySelectorAll('table.dlist tbody tr')].map(r => ({
		  id: r.dataset.id,
		  folder: r.cells[1].textContent,
		  tags: [...r.cells[2].querySelectorAll('.tag')].map(t => t.textContent),
		  format: r.cells[0].querySelector('.format') ? r.cells[0].querySelector('.format').textContent : "",
		  error: r.querySelector('.error') ? r.querySelector('.error').textContent : "",
		}))`
		shown := map[string]row{}
		for _, r := range eval[[]row](b, rowsJS) {
			shown[r.ID] = r
		}
		for _, name := range names {
			e := entries[name]
			r, ok := shown[e.ID]
			if !ok {
				t.Errorf("the Dashboards page does not list %s (%s)", e.ID, name)
				continue
			}
			if r.Folder != grafanaFolders[name] {
				t.Errorf("%s is listed in folder %q, want %q", e.ID, r.Folder, grafanaFolders[name])
			}
			if len(e.Tags) == 0 || !slices.Equal(r.Tags, e.Tags) {
				t.Errorf("%s is listed with tags %q, want the dashboard's %q", e.ID, r.Tags, e.Tags)
			}
			if r.Format != "Grafana" || r.Error != "" {
				t.Errorf("%s: format %q, error %q", e.ID, r.Format, r.Error)
			}
		}
		b.screenshot("grafana-dashboards")

		// The search matches the folder, then a tag; a click on a tag
		// searches for it.
		ids := func() []string {
			got := eval[[]string](b, `[...document.querySelectorAll('table.dlist tbody tr')].map(r => r.dataset.id)`)
			slices.Sort(got)
			return got
		}
		want := func(pred func(name string, e dashEntry) bool) []string {
			var out []string
			for _, name := range names {
				if pred(name, entries[name]) {
					out = append(out, entries[name].ID)
				}
			}
			slices.Sort(out)
			return out
		}
		search := func(q string) {
			b.do(chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('input.search'); s.value = ` + jsString(q) + `; s.dispatchEvent(new Event("input")); })()`))
		}
		inFolder := want(func(name string, _ dashEntry) bool { return grafanaFolders[name] == "infra/k8s" })
		search("infra/k8s")
		b.poll(`[...document.querySelectorAll('table.dlist tbody tr')].length === `+strconv.Itoa(len(inFolder)), 10*time.Second)
		if got := ids(); !slices.Equal(got, inFolder) {
			t.Errorf("searching the folder infra/k8s lists %q, want %q", got, inFolder)
		}
		tagged := want(func(_ string, e dashEntry) bool { return slices.Contains(e.Tags, "kubernetes-mixin") })
		search("kubernetes-mixin")
		b.poll(`[...document.querySelectorAll('table.dlist tbody tr')].length === `+strconv.Itoa(len(tagged)), 10*time.Second)
		if got := ids(); !slices.Equal(got, tagged) || len(got) < 2 {
			t.Errorf("searching the tag kubernetes-mixin lists %q, want %q", got, tagged)
		}
		b.screenshot("grafana-dashboards-search")
		search("")
		b.poll(`[...document.querySelectorAll('table.dlist tbody tr')].length >= `+strconv.Itoa(len(names)), 10*time.Second)
		// A click on a tag searches for it.
		tested := want(func(_ string, e dashEntry) bool { return slices.Contains(e.Tags, "test") })
		b.do(chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('table.dlist .tag')].find(t => t.textContent === "test").click()`))
		b.poll(`document.querySelector('input.search').value === "test" && [...document.querySelectorAll('table.dlist tbody tr')].length === `+strconv.Itoa(len(tested)), 10*time.Second)
		if got := ids(); !slices.Equal(got, tested) {
			t.Errorf("a click on the tag test lists %q, want %q", got, tested)
		}
		b.noPageErrors()
	})

	t.Run("export", func(t *testing.T) {
		id := entries["all-panel-types.json"].ID
		exported := getJSON[map[string]any](t, s, "/api/ui/dashboards/"+id+"?format=grafana", false)
		if exported["uid"] != id {
			t.Fatalf("the export's uid is %v, want %s", exported["uid"], id)
		}
		exported["uid"] = id + "-again"
		body, err := json.MarshalIndent(exported, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "exported-again.json"), body, 0o644); err != nil {
			t.Fatal(err)
		}
		orig := getJSON[dashModel](t, s, "/api/ui/dashboards/"+id, true)
		again := getJSON[dashModel](t, s, "/api/ui/dashboards/"+id+"-again", true)
		if a, o := len(walkPanels(again.Panels)), len(walkPanels(orig.Panels)); a != o || a == 0 {
			t.Errorf("the re-imported export has %d panels, the original %d", a, o)
		}
		// The page's panels and rows, each as type and title, in order.
		layout := func(b *browser, u string) []string {
			b.open(u)
			openRows(b)
			loadAll(b)
			return eval[[]string](b, `[...document.querySelectorAll('section.panel, h2.row-title')].map(e => (e.dataset.type || "row") + " " + e.dataset.title)`)
		}
		b := newBrowser(t, 1400, 1000)
		o := layout(b, s.url("/#/d/"+id+"?range=5m"))
		a := layout(b, s.url("/#/d/"+id+"-again?range=5m"))
		if !slices.Equal(o, a) || len(o) == 0 {
			t.Errorf("the re-imported export shows %d panels and rows:\n%q\nthe original %d:\n%q", len(a), a, len(o), o)
		}
		if st := eval[[]panelState](b, `window.__panoptes.panels.filter(p => p.state === "error")`); len(st) > 0 {
			t.Errorf("panels of the re-imported export failed: %+v", st)
		}
		b.screenshot("grafana-export-again")
		b.noPageErrors()
	})
}

// checkGrafanaDashboard opens one imported dashboard, loads every panel
// (rows opened, each panel scrolled to) and checks what it shows.
func checkGrafanaDashboard(t *testing.T, s *server, id string) {
	model := getJSON[dashModel](t, s, "/api/ui/dashboards/"+id, true)
	b := newBrowser(t, 1400, 1000)
	b.open(s.url("/#/d/" + id + "?range=5m"))
	if errs := eval[[]panelState](b, `window.__panoptes.panels.filter(p => p.kind === "dashboard")`); len(errs) > 0 {
		t.Fatalf("the dashboard did not load: %+v", errs)
	}
	if h := eval[string](b, `document.querySelector('.dashboard h1') ? document.querySelector('.dashboard h1').textContent : ""`); h != model.Title {
		t.Errorf("the page's title is %q, want %q", h, model.Title)
	}
	loadAll(b)
	// Collapsed rows were not queried; opening them brings their panels.
	for range 4 { // rows opened may reveal repeated collapsed rows; bounded
		if openRows(b) == 0 {
			break
		}
		loadAll(b)
	}
	if n := eval[int](b, `document.querySelectorAll('h2.row-title.collapsed').length`); n > 0 {
		t.Errorf("%d rows stay collapsed after opening them", n)
	}

	shown := eval[[]shownPanel](b, `(() => { const s = `+sectionsJS+`; return s.map((e, i) => ({
	  title: e.dataset.title, type: e.dataset.type, hidden: e.hidden,
	  text: e.querySelector('.panel-body').innerText,
	  state: window.__panoptes.panels[i].state, error: window.__panoptes.panels[i].error || "",
	  queries: window.__panoptes.panels[i].queries || [],
	})); })()`)
	if len(shown) == 0 {
		t.Fatal("no panels on the page")
	}
	allowed := grafanaNoData[id]
	for _, p := range shown {
		switch {
		case p.Hidden:
			t.Errorf("panel %q is still hidden after every row was opened", p.Title)
		case p.Type == "placeholder":
			if !strings.Contains(p.Text, "is not supported") {
				t.Errorf("placeholder %q says %q", p.Title, p.Text)
			}
		case p.State == "error":
			t.Errorf("panel %q (%s) failed: %s (queries %q)", p.Title, p.Type, p.Error, p.Queries)
		case p.State == "nodata" && allowed[p.Title] == "":
			t.Errorf("panel %q (%s) shows no data (queries %q)", p.Title, p.Type, p.Queries)
		case p.State != "ok" && p.State != "nodata":
			t.Errorf("panel %q (%s) is %s", p.Title, p.Type, p.State)
		case p.State == "ok" && allowed[p.Title] != "":
			t.Logf("panel %q draws data here though it is allowed none (%s)", p.Title, allowed[p.Title])
		}
	}
	// Each placeholder names the type it stands for, as the model has it.
	var want []string
	for _, p := range walkPanels(model.Panels) {
		if p.Type == "placeholder" {
			want = append(want, p.Title+": "+p.OriginalType)
		}
	}
	var got []string
	for _, p := range shown {
		if p.Type == "placeholder" {
			typ, _, _ := strings.Cut(strings.TrimPrefix(p.Text, "Panel type "), " is not supported")
			got = append(got, p.Title+": "+typ)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("placeholders shown %q, want %q", got, want)
	}
	if model.Import != nil && len(model.Import.Placeholders) != len(want) {
		t.Errorf("the import summary counts %d placeholders, the dashboard has %d", len(model.Import.Placeholders), len(want))
	}

	// The import summary: panels, drawn, placeholders and unresolved variables.
	if model.Import == nil {
		t.Fatal("the API gives no import summary")
	}
	sum := eval[string](b, `document.querySelector('.import-summary') ? document.querySelector('.import-summary').textContent : ""`)
	if !strings.Contains(sum, strconv.Itoa(model.Import.Panels)+" panels, "+strconv.Itoa(model.Import.Rendered)+" drawn") {
		t.Errorf("the import summary says %q, want %d panels, %d drawn", sum, model.Import.Panels, model.Import.Rendered)
	}
	for _, p := range model.Import.Placeholders {
		if !strings.Contains(sum, p.Panel) || !strings.Contains(sum, p.Type) {
			t.Errorf("the import summary %q does not name placeholder %q (%s)", sum, p.Panel, p.Type)
		}
	}
	for _, v := range model.Import.UnresolvedVariables {
		if !strings.Contains(sum, v.Name) {
			t.Errorf("the import summary %q does not name unresolved variable %s", sum, v.Name)
		}
	}
	b.do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	b.screenshot("grafana-" + id)
	b.noPageErrors()
}
