package ui

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// grafanaKinds uses every panel type and construct that Grafana's
// dashboards brought: gauge, bar gauge, pie, heatmap, a placeholder, a
// stat coloured by thresholds, an interval variable, a panel repeated over
// a custom variable's two values, a hidden target, links, and a collapsed
// row whose panel must not be queried until the row is opened.
const grafanaKinds = `title: Grafana kinds
tags: [test, grafana]
links: [{title: Overview, url: "#/d/overview"}]
variables:
  - {name: mode, type: custom, options: [idle, system], multi: true, includeAll: true}
  - {name: win, type: interval, options: [1m, 5m]}
  - {name: job, query: 'query_result(up{job="node"})', regex: '/job="([^"]+)"/'}
  - {name: lbl, query: 'label_names()', regex: '/^(cpu|mode)$/'}
  - {name: metric, query: 'metrics(^node_load)', multi: true}
panels:
  - title: Targets up
    type: stat
    gridPos: {w: 8, h: 5}
    thresholds: {steps: [{color: red, value: null}, {color: green, value: 1}]}
    targets: [{expr: 'min(up{job="node"})'}, {expr: hidden_target_must_not_be_sent, hide: true}]
  - title: CPU busy gauge
    type: gauge
    unit: percent
    gridPos: {w: 8, h: 5}
    thresholds: {steps: [{color: green, value: null}, {color: orange, value: 80}, {color: red, value: 95}]}
    targets: [{expr: '100 * (1 - avg(rate(node_cpu_seconds_total{mode="idle"}[$__rate_interval])))'}]
  - title: Load bars
    type: bargauge
    gridPos: {w: 8, h: 5}
    links: [{title: Explore, url: "#/explore"}]
    targets: [{expr: node_load1, legendFormat: 1m}, {expr: node_load5, legendFormat: 5m}]
  - title: CPU by mode pie
    type: piechart
    pieType: donut
    gridPos: {w: 8, h: 6}
    targets: [{expr: 'sum by (mode) (rate(node_cpu_seconds_total[$__rate_interval]))', legendFormat: '{{mode}}'}]
  - title: Buckets heatmap
    type: heatmap
    gridPos: {w: 8, h: 6}
    targets:
      - format: heatmap
        expr: 'label_replace(vector(2), "le", "0.5", "", "") or label_replace(vector(5), "le", "1", "", "") or label_replace(vector(9), "le", "+Inf", "", "")'
  - title: News
    type: placeholder
    originalType: news
    gridPos: {w: 8, h: 4}
  - title: CPU $mode
    repeat: mode
    gridPos: {w: 12, h: 6}
    targets: [{expr: 'sum(rate(node_cpu_seconds_total{mode=~"$mode"}[$__rate_interval]))', legendFormat: '$mode'}]
  - title: Window $win
    type: stat
    gridPos: {w: 12, h: 4}
    targets: [{expr: 'label_replace(min(up{job="node"}), "window", "$win", "", "")', legendFormat: '{{window}}'}]
  - title: Per $mode
    type: row
    repeat: mode
  - title: Load for $mode
    type: stat
    gridPos: {w: 12, h: 4}
    targets: [{expr: 'count(node_cpu_seconds_total{mode="$mode"})'}]
  - title: Folded
    type: row
    collapsed: true
    panels:
      - title: Folded load
        type: stat
        targets: [{expr: 'node_load15 + 0'}]
`

// TestGrafanaPanelKinds: each of the panel types Grafana's dashboards brought
// draws its data; the collapsed row queries nothing until it is opened; the
// repeated panel is there once per value; nothing logs an error.
func TestGrafanaPanelKinds(t *testing.T) {
	requireChromium(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "kinds.yaml"), []byte(grafanaKinds), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "--web.dashboards-dir="+dir)
	settle(t, s)
	b := newBrowser(t, 1400, 1400)
	b.open(s.url("/#/d/kinds?range=5m"))

	st := panelsByTitle(b)
	for _, title := range []string{"Targets up", "CPU busy gauge", "Load bars", "CPU by mode pie", "Buckets heatmap", "CPU idle", "CPU system", "Window 1m"} {
		if p, ok := st[title]; !ok || p.State != "ok" {
			t.Errorf("panel %q: %+v, want data (panels: %+v)", title, p, st)
		}
	}
	// Thresholds: min(up) is 1, which reaches the green step.
	if c := eval[string](b, `document.querySelector('section.panel[data-title="Targets up"] .stat-value').dataset.color`); c != "#73bf69" {
		t.Errorf("the stat's colour is %q, want Grafana's green #73bf69", c)
	}
	if v := eval[string](b, `document.querySelector('section.panel[data-title="CPU busy gauge"] .gauge-text').textContent`); !strings.Contains(v, "%") {
		t.Errorf("the gauge shows %q, want a percentage", v)
	}
	if n := eval[int](b, `document.querySelectorAll('section.panel[data-title="Load bars"] .bar-fill').length`); n != 2 {
		t.Errorf("the bar gauge draws %d bars, want 2", n)
	}
	if n := eval[int](b, `document.querySelectorAll('section.panel[data-title="CPU by mode pie"] path.slice').length`); n < 2 {
		t.Errorf("the pie draws %d slices, want one per CPU mode", n)
	}
	// The heatmap's buckets are de-cumulated: 2, 3 and 4 in three rows.
	if p := st["Buckets heatmap"]; p.Series != 3 || p.Points < 3 {
		t.Errorf("heatmap: %+v, want 3 buckets with cells", p)
	}
	if txt := eval[string](b, `document.querySelector('section.panel[data-title="News"]').innerText`); !strings.Contains(txt, "Panel type news is not supported") {
		t.Errorf("the placeholder says %q", txt)
	}
	// The repeated panel: one per value of mode, each querying its own.
	for _, m := range []string{"idle", "system"} {
		q := st["CPU "+m].Queries
		if len(q) != 1 || !strings.Contains(q[0], `mode=~"`+m+`"`) {
			t.Errorf("repeated panel for %s sent %q", m, q)
		}
	}
	// (An interval variable as a range, [$win], is what Grafana's dashboards
	// do, but the dashboard validator does not take it yet; a label shows
	// the substitution as well.)
	// The repeated row: a header and its panel per value.
	if rows := eval[string](b, `[...document.querySelectorAll('h2.row-title')].map(e => e.dataset.title).join(",")`); rows != "Per idle,Per system,Folded" {
		t.Errorf("row headers %q, want Per idle,Per system,Folded", rows)
	}
	for _, m := range []string{"idle", "system"} {
		if p := st["Load for "+m]; p.State != "ok" || len(p.Queries) != 1 || !strings.Contains(p.Queries[0], `mode="`+m+`"`) {
			t.Errorf("the repeated row's panel for %s: %+v", m, p)
		}
	}
	if q := st["Window 1m"].Queries; len(q) != 1 || q[0] != `label_replace(min(up{job="node"}), "window", "1m", "", "")` {
		t.Errorf("the interval variable: sent %q", q)
	}
	// Variables from query_result (its text filtered by a regex's group),
	// label_names() and metrics(regex).
	for name, want := range map[string]string{"job": "node", "lbl": "cpu,mode", "metric": "node_load1,node_load15,node_load5"} {
		if got := eval[string](b, `[...document.querySelectorAll('select[name="var-`+name+`"] option')].map(o => o.value).join(",")`); got != want {
			t.Errorf("variable %s offers %q, want %q", name, got, want)
		}
	}
	if n := eval[int](b, `document.querySelectorAll('section.panel[data-title="Load bars"] .panel-links a[href="#/explore"]').length + document.querySelectorAll('.dash-links a[href="#/d/overview"]').length`); n != 2 {
		t.Errorf("%d of the panel's and the dashboard's links shown, want 2", n)
	}
	sent := eval[[]string](b, `window.__panoptes.sent`)
	for _, q := range sent {
		if strings.Contains(q, "hidden_target_must_not_be_sent") {
			t.Errorf("a hidden target was queried: %s", q)
		}
		if strings.Contains(q, "node_load15") {
			t.Errorf("the collapsed row's panel was queried before the row was opened: %s", q)
		}
	}
	if p := st["Folded load"]; p.State != "idle" {
		t.Errorf("the collapsed row's panel: %+v, want idle", p)
	}
	if vis := eval[bool](b, `!!document.querySelector('section.panel[data-title="Folded load"]').offsetParent`); vis {
		t.Error("the collapsed row's panel is shown")
	}
	b.screenshot("grafana-kinds")

	// Opening the row queries its panel.
	b.do(chromedp.Click(chromedp.CSS(`h2.row-title[data-title="Folded"]`)))
	b.poll(`window.__panoptes.panels.find(p => p.title === "Folded load").state === "ok"`, time.Minute)
	if n := eval[int](b, `window.__panoptes.sent.filter(q => q.includes("node_load15")).length`); n != 1 {
		t.Errorf("opening the row sent %d queries for its panel, want 1", n)
	}
	b.screenshot("grafana-kinds-row-open")

	// Choosing one value of mode leaves one repeated panel.
	b.open(s.url("/#/d/kinds?range=5m&var-mode=system&var-win=5m"))
	titles := eval[[]string](b, `[...document.querySelectorAll('section.panel')].map(e => e.dataset.title).filter(t => t.startsWith("CPU ") && !t.includes("gauge") && !t.includes("pie"))`)
	if strings.Join(titles, ",") != "CPU system" {
		t.Errorf("with mode=system the repeated panels are %q", titles)
	}
	if q := eval[[]string](b, `window.__panoptes.panels.find(p => p.title === "Window 5m").queries`); len(q) != 1 || !strings.Contains(q[0], `"5m"`) {
		t.Errorf("win=5m: sent %q", q)
	}
	b.noPageErrors()
}

// TestLazyPanels: of a 40-panel dashboard, the panels far below the
// viewport are not queried until they are scrolled to.
func TestLazyPanels(t *testing.T) {
	requireChromium(t)
	dir := t.TempDir()
	var sb strings.Builder
	sb.WriteString("title: Many\npanels:\n")
	for i := range 40 {
		fmt.Fprintf(&sb, "  - {title: P%d, gridPos: {w: 24, h: 8}, targets: [{expr: 'node_load1 + %d'}]}\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "many.yaml"), []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "--web.dashboards-dir="+dir)
	// Two samples, not one: the first collection's sample is stamped when
	// it ran (x.655 s, say), the page's grid ends at the last whole step
	// before now, and a page opened within that second found no slot at or
	// after the only sample and drew "No data".
	s.waitFor(t, "count_over_time(node_load1[1m]) >= 2")
	b := newBrowser(t, 1300, 900)
	b.open(s.url("/#/d/many?range=5m"))
	if p := eval[panelState](b, `window.__panoptes.panels[0]`); p.State != "ok" {
		// Say what the server holds for the panel's window, to tell a
		// server without samples from a page that dropped them.
		t.Errorf("the first panel: %+v; the server now has %+v for count_over_time(node_load1[5m]) and %+v for up",
			p, s.query(t, "count_over_time(node_load1[5m])"), s.query(t, "up"))
	}
	if p := eval[panelState](b, `window.__panoptes.panels[39]`); p.State != "idle" {
		t.Errorf("the last panel, far below the viewport: %+v, want idle", p)
	}
	if n := eval[int](b, `window.__panoptes.sent.filter(q => q === "node_load1 + 39").length`); n != 0 {
		t.Errorf("the last panel was queried %d times before it was scrolled to", n)
	}
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('section.panel[data-title="P39"]').scrollIntoView()`))
	b.poll(`window.__panoptes.panels[39].state === "ok"`, time.Minute)

	// Back at the top, a refresh queries the panels in view only; the last
	// one is queried again when it is scrolled to.
	sentFor := func(i int) int {
		return eval[int](b, fmt.Sprintf(`window.__panoptes.sent.filter(q => q === "node_load1 + %d").length`, i))
	}
	b.do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	first, last := sentFor(0), sentFor(39)
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('button[title="Refresh now"]').click()`))
	b.poll(fmt.Sprintf(`window.__panoptes.sent.filter(q => q === "node_load1 + 0").length > %d && window.__panoptes.ready`, first), time.Minute)
	if n := sentFor(39); n != last {
		t.Errorf("a refresh at the top queried the last panel (%d queries, was %d)", n, last)
	}
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('section.panel[data-title="P39"]').scrollIntoView()`))
	b.poll(fmt.Sprintf(`window.__panoptes.sent.filter(q => q === "node_load1 + 39").length > %d`, last), time.Minute)
	b.noPageErrors()
}

// TestDashboardsSearch: the Dashboards page filters by what is typed, and
// a dashboard that failed to load shows its error.
func TestDashboardsSearch(t *testing.T) {
	requireChromium(t)
	dir := t.TempDir()
	for name, body := range map[string]string{
		"alpha.yaml": "title: Alpha disks\ntags: [storage]\npanels: [{title: x, targets: [{expr: up}]}]\n",
		"beta.yaml":  "title: Beta network\ntags: [net]\npanels: [{title: x, targets: [{expr: up}]}]\n",
		"bad.yaml":   "title: Bad\npanels:\n  - title: Broken one\n    type: gauge\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := startServer(t, "--web.dashboards-dir="+dir)
	b := newBrowser(t, 1300, 900)
	b.open(s.url("/#/dashboards"))
	rows := func() string {
		return eval[string](b, `[...document.querySelectorAll('table.dlist tbody tr')].map(r => r.dataset.id).join(",")`)
	}
	all := rows()
	for _, id := range []string{"alpha", "beta", "bad"} {
		if !strings.Contains(all, id) {
			t.Errorf("the list %q lacks %s", all, id)
		}
	}
	if e := eval[string](b, `document.querySelector('table.dlist tr[data-id="bad"] .error').textContent`); !strings.Contains(e, "Broken one") || !strings.Contains(e, "targets") {
		t.Errorf("the failed dashboard shows %q, want the panel and the field", e)
	}
	b.do(chromedp.SendKeys(chromedp.CSS(`input.search`), "alpha"))
	b.poll(`[...document.querySelectorAll('table.dlist tbody tr')].map(r => r.dataset.id).join(",") === "alpha"`, 10*time.Second)
	if !strings.Contains(eval[string](b, `location.hash`), "q=alpha") {
		t.Error("the search is not kept in the URL")
	}
	b.screenshot("dashboards-search")
	b.do(chromedp.SetValue(chromedp.CSS(`input.search`), "no such thing"), chromedp.Evaluate[chromedp.Void](`document.querySelector('input.search').dispatchEvent(new Event("input"))`))
	b.poll(`document.querySelectorAll('table.dlist tbody tr').length === 0 && document.querySelector('.dashboards-list .nodata') !== null`, 10*time.Second)

	// A dashboard imported from Grafana carries an import summary, which
	// the page shows under its title. (The importer is tested with the
	// server; here the page is given one, to check how it is shown.)
	b.do(chromedp.Evaluate[chromedp.Void](`(() => {
	  const orig = window.fetch;
	  window.fetch = async (u, o) => {
	    const r = await orig(u, o);
	    if (!String(u).endsWith("api/ui/dashboards/alpha")) return r;
	    const d = await r.json();
	    (d.data || d).import = {format: "grafana", panels: 42, rendered: 40, placeholders: [{panel: "Feed", type: "news"}, {panel: "List", type: "dashlist"}], unresolvedVariables: [{name: "x", reason: "no such label"}]};
	    return new Response(JSON.stringify(d), {headers: {"Content-Type": "application/json"}});
	  };
	  window.__panoptes.ready = false;
	  location.hash = "#/d/alpha";
	})()`))
	b.waitReady()
	want := "Imported from Grafana: 42 panels, 40 drawn, 2 placeholders (news, dashlist); unresolved variables: x"
	b.poll(`document.querySelector('details.import-summary') !== null || document.querySelector('main .error') !== null`, 10*time.Second)
	if got := eval[string](b, `(document.querySelector('details.import-summary summary') || document.querySelector('main')).textContent`); got != want {
		t.Errorf("import summary %q, want %q", got, want)
	}
	b.do(chromedp.Click(chromedp.CSS(`details.import-summary summary`)))
	if got := eval[string](b, `document.querySelector('details.import-summary').innerText`); !strings.Contains(got, "Feed") || !strings.Contains(got, "no such label") {
		t.Errorf("the summary's details say %q", got)
	}
	b.screenshot("import-summary")
	b.noPageErrors()
}
