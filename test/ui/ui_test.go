package ui

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// panelState is window.__panoptes.panels[i], the UI's own account of a panel.
type panelState struct {
	Title  string `json:"title"`
	Kind   string `json:"kind"`
	State  string `json:"state"`
	Error  string `json:"error"`
	Rows   int    `json:"rows"`
	Series int    `json:"series"`
	Points int    `json:"points"`
	// Queries are the expressions last sent, variables substituted.
	Queries []string `json:"queries"`
}

// panelsByTitle is the UI's account of the page's panels, by title.
func panelsByTitle(b *browser) map[string]panelState {
	st := map[string]panelState{}
	for _, p := range eval[[]panelState](b, `window.__panoptes.panels`) {
		st[p.Title] = p
	}
	return st
}

// chartInfo is read from the uPlot instances themselves: what is drawn.
type chartInfo struct {
	Title  string `json:"title"`
	Series int    `json:"series"`
	Points int    `json:"points"`
	Xs     int    `json:"xs"`
}

const chartsJS = `window.__panoptes.charts.map(u => ({
  title: u.__title,
  series: u.series.length - 1,
  xs: u.data[0].length,
  points: u.data.slice(1).reduce((n, s) => n + s.filter(v => v !== null && v !== undefined && isFinite(v)).length, 0),
}))`

// settle waits until the host's series hold four collections (about 6 s
// at the 2 s interval), so that the newest step of every panel's window has
// two samples inside its 8 s $__rate_interval. Two collections (rates exist
// at all) are not enough: the first two are a fraction of a second apart,
// and a stat panel's newest step may still see only one of them.
func settle(t *testing.T, s *server) {
	t.Helper()
	s.waitFor(t, `count_over_time(node_cpu_seconds_total{cpu="0",mode="idle"}[1m]) >= 4`)
	s.waitFor(t, `rate(node_pressure_cpu_waiting_seconds_total[1m])`)
}

// TestOverview: every panel of the host overview shows data — each chart's
// uPlot instance holds series with points, each stat a value, the disk
// table a row per mount — with a container the test made in the busiest
// containers charts; then the same page on a phone-sized screen.
func TestOverview(t *testing.T) {
	requireChromium(t)
	c := makeContainer(t)
	s := startServer(t)
	settle(t, s)
	s.waitFor(t, `rate(container_cpu_usage_seconds_total{id="`+c.id+`"}[1m]) > 0`)
	b := newBrowser(t, 1400, 1000)
	b.open(s.url("/#/d/overview?range=5m"))

	panels := eval[[]panelState](b, `window.__panoptes.panels`)
	if len(panels) < 15 {
		t.Fatalf("the overview has %d panels, want at least 15: %+v", len(panels), panels)
	}
	timeseries := 0
	for _, p := range panels {
		if p.State != "ok" {
			t.Errorf("panel %q (%s): state %s %s, want data", p.Title, p.Kind, p.State, p.Error)
		}
		switch p.Kind {
		case "timeseries":
			timeseries++
		case "table":
			if p.Rows < 1 {
				t.Errorf("table %q has no rows", p.Title)
			}
		}
	}
	charts := eval[[]chartInfo](b, chartsJS)
	if len(charts) != timeseries {
		t.Errorf("%d uPlot charts for %d timeseries panels", len(charts), timeseries)
	}
	for _, ch := range charts {
		if ch.Series < 1 || ch.Points < 2 {
			t.Errorf("chart %q draws %d series with %d points, want data", ch.Title, ch.Series, ch.Points)
		}
	}
	// The busiest-containers chart names the test's container.
	legend := eval[string](b, `[...document.querySelectorAll('section.panel[data-title="Busiest containers (CPU)"] table.legend td.name')].map(e => e.textContent).join("\n")`)
	if !strings.Contains(legend, c.id) {
		t.Errorf("busiest containers legend does not list %s:\n%s", c.id, legend)
	}
	// Stats show a formatted value, not a dash.
	stats := eval[[]string](b, `[...document.querySelectorAll('section.panel[data-type="stat"] .stat-value')].map(e => e.textContent)`)
	for _, v := range stats {
		if v == "" || v == "–" {
			t.Errorf("a stat shows %q", v)
		}
	}
	// The disk table lists the root file system with its size in IEC units.
	disk := eval[string](b, `document.querySelector('section.panel[data-title="Disk space per mount"]').innerText`)
	if !regexp.MustCompile(`(?m)^/\s`).MatchString(disk) || !regexp.MustCompile(`[0-9.]+ (GiB|MiB|TiB)`).MatchString(disk) {
		t.Errorf("disk table does not show / with a size in GiB:\n%s", disk)
	}
	// Nothing was loaded from another host.
	foreign := eval[[]string](b, `performance.getEntriesByType("resource").map(e => e.name).filter(n => !n.startsWith(location.origin))`)
	if len(foreign) > 0 {
		t.Errorf("the page loaded from other hosts: %v", foreign)
	}
	b.screenshot("overview")

	// The cursor is synced: hovering one chart moves the others' cursors.
	b.do(chromedp.Evaluate[chromedp.Void](`(() => {
	  const o = window.__panoptes.charts[0].over, r = o.getBoundingClientRect();
	  o.dispatchEvent(new MouseEvent("mousemove", {clientX: r.left + r.width / 2, clientY: r.top + 10, bubbles: true}));
	})()`))
	b.poll(`window.__panoptes.charts.slice(1).every(o => o.cursor.left > 0 && o.cursor.idx !== null)`, time.Minute)

	// Drag to zoom over the last 7% of the 5 minutes (where the young
	// server has data): the range becomes absolute in the URL and every
	// chart shows it; Back returns to the last 5 minutes.
	b.do(chromedp.Evaluate[chromedp.Void](`(() => {
	  const u = window.__panoptes.charts[0], w = u.over.clientWidth;
	  window.__panoptes.ready = false;
	  u.setSelect({left: w * 0.93, width: w * 0.07, top: 0, height: 10});
	})()`))
	b.waitReady()
	zoomed := eval[map[string]float64](b, `(() => {
	  const p = new URLSearchParams(location.hash.split("?")[1]);
	  const u = window.__panoptes.charts[0];
	  return {from: +p.get("from") / 1000, to: +p.get("to") / 1000, range: p.has("range") ? 1 : 0, min: u.scales.x.min, max: u.scales.x.max};
	})()`)
	if span := zoomed["to"] - zoomed["from"]; zoomed["range"] != 0 || span < 12 || span > 30 {
		t.Errorf("after a drag over 7%% of 5 minutes the URL holds %v", zoomed)
	}
	if zoomed["min"] < zoomed["from"]-5 || zoomed["max"] > zoomed["to"]+5 {
		t.Errorf("zoomed charts show %v", zoomed)
	}
	if p := eval[[]panelState](b, `window.__panoptes.panels.filter(p => p.state !== "ok")`); len(p) > 0 {
		t.Errorf("zoomed panels without data: %+v", p)
	}
	b.do(chromedp.NavigateBack())
	b.poll(`location.hash.includes("range=5m")`, time.Minute)
	b.waitReady()

	// Dark theme: the page's colours change and the charts are drawn again.
	bg := eval[string](b, `getComputedStyle(document.body).backgroundColor`)
	b.do(chromedp.Click(chromedp.CSS(`button.theme`)))
	b.waitReady()
	if dark := eval[string](b, `getComputedStyle(document.body).backgroundColor`); dark == bg {
		t.Errorf("the theme button left the background %s", bg)
	}
	b.screenshot("overview-dark")

	// A phone: one column, nothing wider than the screen.
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.poll(`document.documentElement.scrollWidth <= window.innerWidth + 1`, time.Minute)
	b.screenshot("overview-phone")
	b.noPageErrors()
}

// TestContainers: the test's container is in the table with its CPU and
// memory, the filter finds it, and a click opens its dashboard with charts.
func TestContainers(t *testing.T) {
	requireChromium(t)
	c := makeContainer(t)
	s := startServer(t)
	s.waitFor(t, `rate(container_cpu_usage_seconds_total{id="`+c.id+`"}[1m]) > 0`)
	// The container page's rate charts need two samples in their window.
	s.waitFor(t, `count_over_time(container_cpu_cfs_periods_total{id="`+c.id+`"}[1m]) >= 4`)
	b := newBrowser(t, 1400, 900)
	b.open(s.url("/#/containers?range=5m"))
	ids := eval[[]string](b, `[...document.querySelectorAll('table.data tbody tr td:first-child span')].map(e => e.title.split("\n")[0])`)
	found := false
	for _, id := range ids {
		found = found || id == c.id
	}
	if !found {
		t.Fatalf("the container table does not list %s; it lists %v", c.id, ids)
	}
	b.screenshot("containers")

	// Filter by a piece of the cgroup's id: only that container (and its pod's
	// cgroup, whose path is a prefix) stays.
	piece := c.id[strings.LastIndex(c.id, "/")+1:][:12]
	b.do(chromedp.SendKeys(chromedp.CSS(`input[type=search]`), piece))
	b.poll(`document.querySelectorAll('table.data tbody tr').length === 1`, time.Minute)
	row := eval[[]string](b, `[...document.querySelector('table.data tbody tr').cells].map(c => c.innerText)`)
	// Name, pod, instance, CPU, trend, CPU % of limit, memory, % of limit, ...
	if len(row) < 8 || !regexp.MustCompile(`^[0-9.]+m$`).MatchString(row[3]) || !regexp.MustCompile(`^[0-9.]+%$`).MatchString(row[5]) ||
		!regexp.MustCompile(`^[0-9.]+ MiB$`).MatchString(row[6]) || !regexp.MustCompile(`^[0-9.]+%$`).MatchString(row[7]) {
		t.Errorf("the row shows no CPU in millicores and %% of its limit, or memory in MiB and %% of its limit: %q", row)
	}
	if loc := eval[string](b, `location.hash`); !strings.Contains(loc, "filter="+piece) {
		t.Errorf("the filter is not in the URL: %s", loc)
	}
	// Open the detail page. ready goes false first, so that waitReady waits
	// for the new page, not the table page that is still shown until the
	// hashchange event renders the next one.
	b.do(chromedp.Evaluate[chromedp.Void](`window.__panoptes.ready = false`))
	b.do(chromedp.Click(chromedp.CSS(`table.data tbody tr`)))
	b.poll(`location.hash.startsWith("#/d/container")`, time.Minute)
	b.waitReady()
	if got := eval[string](b, `new URLSearchParams(location.hash.split("?")[1]).get("var-id")`); got != c.id {
		t.Errorf("the detail page is for %q, want %q", got, c.id)
	}
	charts := eval[[]chartInfo](b, chartsJS)
	want := map[string]bool{"CPU usage": false, "Memory": false, "CPU throttling": false}
	for _, ch := range charts {
		if _, ok := want[ch.Title]; ok && ch.Points > 1 {
			want[ch.Title] = true
		}
	}
	for title, ok := range want {
		if !ok {
			t.Errorf("container page: chart %q has no data (charts: %+v)", title, charts)
		}
	}
	// The memory chart's working set is at least what the burner holds.
	ws := eval[float64](b, `(() => { const u = window.__panoptes.charts.find(u => u.__title === "Memory"); const s = u.__raw.find(s => s.name === "working set"); return Math.max(...s.values.filter(v => v !== null)); })()`)
	if ws < 32<<20 {
		t.Errorf("working set drawn %.0f bytes, the burner holds 32 MiB", ws)
	}
	limit := eval[float64](b, `(() => { const u = window.__panoptes.charts.find(u => u.__title === "Memory"); const s = u.__raw.find(s => s.name === "limit"); return s ? Math.max(...s.values.filter(v => v !== null)) : 0; })()`)
	if limit != 256<<20 {
		t.Errorf("memory limit drawn %.0f bytes, the cgroup's is 256 MiB", limit)
	}
	b.screenshot("container")
	b.noPageErrors()
}

// TestExplore: autocomplete, two queries on one graph, the table view, a
// bad query's error at its position, and the URL holding the whole state.
func TestExplore(t *testing.T) {
	requireChromium(t)
	s := startServer(t)
	settle(t, s)
	b := newBrowser(t, 1300, 900)
	b.open(s.url("/#/explore?range=5m"))

	// Metric names complete from the API.
	b.do(chromedp.SendKeys(chromedp.CSS(`textarea.promql`), "node_load"))
	b.poll(`[...document.querySelectorAll('ul.complete li span')].some(e => e.textContent === "node_load15")`, time.Minute)
	b.do(chromedp.SendKeys(chromedp.CSS(`textarea.promql`), "1"))
	b.poll(`document.querySelector('ul.complete li span') && document.querySelector('ul.complete li span').textContent === "node_load1"`, time.Minute)
	b.do(chromedp.SendKeys(chromedp.CSS(`textarea.promql`), "\t"))
	if v := eval[string](b, `document.querySelector('textarea.promql').value`); v != "node_load1" {
		t.Errorf("after completion the query is %q", v)
	}
	// Label names of the metric complete inside braces.
	b.do(chromedp.SendKeys(chromedp.CSS(`textarea.promql`), "{"))
	b.poll(`[...document.querySelectorAll('ul.complete li')].some(e => e.dataset.kind === "label" && e.textContent.startsWith("instance"))`, time.Minute)
	b.do(chromedp.SendKeys(chromedp.CSS(`textarea.promql`), "\x1b")) // Escape closes the list
	b.poll(`getComputedStyle(document.querySelector('ul.complete')).display === "none"`, time.Minute)
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('textarea.promql').value = "node_load1"`))

	// A second query, then run both on one graph.
	b.do(chromedp.Click(chromedp.CSS(`#add-query`)))
	b.do(chromedp.SendKeys(chromedp.CSS(`.query:nth-child(2) textarea.promql`), `sum by (mode) (rate(node_cpu_seconds_total[1m]))`))
	b.do(chromedp.Click(chromedp.CSS(`#run`)))
	b.waitReady()
	charts := eval[[]chartInfo](b, chartsJS)
	if len(charts) != 1 || charts[0].Series < 3 || charts[0].Points < 4 {
		t.Fatalf("explore graph: %+v, want one chart with node_load1 and the CPU modes", charts)
	}
	legend := eval[string](b, `document.querySelector('table.legend').innerText`)
	for _, want := range []string{"node_load1", `mode="idle"`, "min", "max", "avg", "last"} {
		if !strings.Contains(legend, want) {
			t.Errorf("legend lacks %q:\n%s", want, legend)
		}
	}
	b.screenshot("explore-graph")

	// Table view.
	b.do(chromedp.Click(chromedp.CSS(`button.tab[data-view=table]`)))
	b.waitReady()
	rows := eval[int](b, `document.querySelectorAll('.result table.data tbody tr').length`)
	if rows < 3 {
		t.Errorf("table view shows %d rows", rows)
	}
	b.screenshot("explore-table")

	// The URL holds the state: a fresh tab opened on it shows the same.
	hash := eval[string](b, `location.hash`)
	params, err := url.ParseQuery(hash[strings.Index(hash, "?")+1:])
	if err != nil {
		t.Fatal(err)
	}
	if q := params["q"]; len(q) != 2 || q[0] != "node_load1" || params.Get("view") != "table" || params.Get("range") != "5m" {
		t.Errorf("URL state %v", params)
	}
	b2 := newBrowser(t, 1300, 900)
	b2.open(s.url("/" + hash))
	got := eval[[]string](b2, `[...document.querySelectorAll('textarea.promql')].map(t => t.value)`)
	if len(got) != 2 || got[0] != "node_load1" || !strings.HasPrefix(got[1], "sum by (mode)") {
		t.Errorf("queries from the URL: %q", got)
	}
	if n := eval[int](b2, `document.querySelectorAll('.result table.data tbody tr').length`); n != rows {
		t.Errorf("the shared URL shows %d table rows, the original %d", n, rows)
	}
	if on := eval[string](b2, `document.querySelector('button.tab.on').dataset.view`); on != "table" {
		t.Errorf("the shared URL opens the %s view", on)
	}

	// A bad query: the error names its position, the caret sits under it.
	b.do(chromedp.Click(chromedp.CSS(`button.tab[data-view=graph]`)))
	bad := `sum(rate(node_cpu_seconds_total[1m])`
	b.do(chromedp.Evaluate[chromedp.Void](`(() => { const t = document.querySelector('textarea.promql'); t.value = ` + jsString(bad) + `; t.dispatchEvent(new Event("input")); })()`))
	b.do(chromedp.Click(chromedp.CSS(`#run`)))
	b.waitReady()
	b.poll(`!!document.querySelector('.query-error .pos')`, time.Minute)
	msg := eval[string](b, `document.querySelector('.query-error .pos').textContent`)
	caret := eval[string](b, `document.querySelector('.query-error pre.caret').textContent`)
	// The server's own answer says where: 1:37 for this query.
	if !strings.Contains(msg, "line 1, column 37") || !strings.Contains(msg, "unclosed left parenthesis") {
		t.Errorf("error message %q, want line 1, column 37: unclosed left parenthesis", msg)
	}
	lines := strings.Split(caret, "\n")
	if len(lines) != 2 || lines[0] != bad || strings.Index(lines[1], "^") != 36 {
		t.Errorf("caret display %q", caret)
	}
	b.screenshot("explore-error")
	b.noPageErrors()
	b2.noPageErrors()
}

// TestTargetsAndStatus: the in-process targets are up; the status page
// shows the build, flags, config and the cardinality table.
func TestTargetsAndStatus(t *testing.T) {
	requireChromium(t)
	s := startServer(t)
	settle(t, s)
	b := newBrowser(t, 1300, 900)
	b.open(s.url("/#/targets"))
	text := eval[string](b, `document.querySelector('main').innerText`)
	for _, want := range []string{"node (1/1 up)", "panoptes (1/1 up)", `job="node"`} {
		if !strings.Contains(text, want) {
			t.Errorf("targets page lacks %q:\n%s", want, text)
		}
	}
	b.screenshot("targets")
	b.open(s.url("/#/status"))
	text = eval[string](b, `document.querySelector('main').innerText`)
	for _, want := range []string{"Build", "goVersion", "Head series", "Top metric names by series count", "node_cpu_seconds_total", "storage.tsdb.path", "Configuration"} {
		if !strings.Contains(text, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if st := eval[[]panelState](b, `window.__panoptes.panels`); len(st) != 1 || st[0].State != "ok" {
		t.Errorf("status page state %+v", st)
	}
	b.screenshot("status")
	b.noPageErrors()
}

// TestErrorsAndOwnDashboards: a dashboard of --web.dashboards-dir renders; a
// panel whose query fails shows the server's error, one without data says
// so; an invalid file is listed with its error; and a server that goes away
// shows a banner that clears, with data back, once it returns.
func TestErrorsAndOwnDashboards(t *testing.T) {
	requireChromium(t)
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("mine.yaml", `title: Mine
panels:
  - title: Load
    targets: [{expr: node_load1, legendFormat: "load {{instance}}"}]
  - title: Broken
    targets: [{expr: 'label_replace(node_load1, "x", "$1", "instance", "(")'}]
  - title: Empty
    type: stat
    targets: [{expr: no_such_metric_anywhere}]
  - title: Window
    type: stat
    targets: [{expr: 'count_over_time(up{job="node"}[$__rate_interval])'}]
`)
	write("bad.yaml", "title: Bad\npanels:\n  - title: x\n    targets: [{expr: 'rate(up[5m]'}]\n")
	s := startServer(t, "--web.dashboards-dir="+dir)
	settle(t, s)
	b := newBrowser(t, 1300, 900)
	b.open(s.url("/#/d/mine?range=5m"))
	st := panelsByTitle(b)
	if st["Load"].State != "ok" || st["Load"].Points < 1 {
		t.Errorf("Load panel: %+v", st["Load"])
	}
	if p := st["Broken"]; p.State != "error" || !strings.Contains(p.Error, "invalid regular expression") {
		t.Errorf("Broken panel: %+v, want the server's error", p)
	}
	shown := eval[string](b, `document.querySelector('section.panel[data-title="Broken"] .error').textContent`)
	if !strings.Contains(shown, "invalid regular expression") {
		t.Errorf("Broken panel shows %q", shown)
	}
	if st["Empty"].State != "nodata" || eval[string](b, `document.querySelector('section.panel[data-title="Empty"] .nodata').textContent`) != "No data" {
		t.Errorf("Empty panel: %+v", st["Empty"])
	}
	// $__rate_interval follows the 2 s collection interval (four of them,
	// 8 s), not a fixed minute. The query the panel sent says so; counting
	// the samples in the window would depend on how punctual the collector
	// was on a loaded machine.
	if q := st["Window"].Queries; len(q) != 1 || q[0] != `count_over_time(up{job="node"}[8s])` {
		t.Errorf("Window panel sent %q, want count_over_time(up{job=\"node\"}[8s])", q)
	}
	if v := eval[string](b, `document.querySelector('section.panel[data-title="Window"] .stat-value').textContent`); v == "" || v == "–" {
		t.Errorf("Window stat shows %q", v)
	}
	b.screenshot("own-dashboard")

	// A series that exists only at the newest step of the window is shown:
	// the range query is aligned to its step, so the server's newest
	// timestamp is the grid's last slot and not one past it. (Unaligned,
	// the newest point fell off the grid about half of the time, and a
	// young server's stat said "No data".) The dashboards directory is read
	// on every page load, so "now" is written just before the page opens.
	now := float64(time.Now().UnixMilli()) / 1000
	write("newest.yaml", fmt.Sprintf("title: Newest\npanels:\n  - title: Newest\n    type: stat\n    targets: [{expr: 'vector(1) and on() (vector(time()) >= %.3f - 2)'}]\n", now))
	b.open(s.url("/#/d/newest?range=5m"))
	if p := eval[[]panelState](b, `window.__panoptes.panels`); len(p) != 1 || p[0].State != "ok" || p[0].Points < 1 {
		t.Errorf("a series at the newest step only: panel %+v, want its point", p)
	}

	// A panel's targets go to the server as one request (/api/ui/query_range);
	// a target the server refuses (a bad regular expression is found only
	// when the query runs) fails its panel with the server's message.
	write("batch.yaml", "title: Batch\npanels:\n  - title: Two\n    targets: [{expr: 'node_load1'}, {expr: 'node_load1 * 2'}]\n  - title: Broken\n    targets: [{expr: 'node_load1'}, {expr: 'label_replace(node_load1, \"x\", \"$1\", \"instance\", \"(\")'}]\n")
	b.open(s.url("/#/d/batch?range=5m"))
	st = panelsByTitle(b)
	if p := st["Two"]; p.State != "ok" || p.Series != 2 {
		t.Errorf("a panel of two targets: %+v, want 2 series", p)
	}
	if p := st["Broken"]; p.State != "error" || !strings.Contains(p.Error, "regular expression") {
		t.Errorf("a panel with a target the server refuses: %+v, want the server's error", p)
	}
	reqs := eval[[]string](b, `performance.getEntriesByType("resource").map(e => e.name).filter(n => n.includes("/api/v1/query") || n.includes("/api/ui/query_range"))`)
	if len(reqs) != 2 || !strings.HasSuffix(reqs[0], "/api/ui/query_range") || !strings.HasSuffix(reqs[1], "/api/ui/query_range") {
		t.Errorf("two panels of two targets sent %q, want two batch requests", reqs)
	}

	b.open(s.url("/#/dashboards"))
	list := eval[string](b, `document.querySelector('main').innerText`)
	if !strings.Contains(list, "Mine") || !strings.Contains(list, "bad.yaml") || !strings.Contains(list, "unclosed left parenthesis") {
		t.Errorf("dashboard list:\n%s", list)
	}
	b.screenshot("dashboards")

	// Auto-refresh queries again by itself.
	b.open(s.url("/#/d/mine?range=5m&refresh=5s"))
	const queried = `performance.getEntriesByType("resource").filter(e => e.name.includes("/api/v1/query") || e.name.includes("/api/ui/query_range")).length`
	n0 := eval[int](b, queried)
	b.poll(queried+` > `+strconv.Itoa(n0), time.Minute)

	// The server goes away: the banner shows. It comes back: the banner
	// goes and the panels load again.
	b.open(s.url("/#/d/mine?range=5m&refresh=5s"))
	s.stop()
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('button[title="Refresh now"]').click()`))
	b.poll(`document.querySelector('.banner').classList.contains('show')`, time.Minute)
	if txt := eval[string](b, `document.querySelector('.banner').textContent`); !strings.Contains(txt, "cannot be reached") {
		t.Errorf("banner says %q", txt)
	}
	b.screenshot("server-gone")
	s.start(t)
	b.poll(`!document.querySelector('.banner').classList.contains('show')`, time.Minute)
	b.waitReady()
	b.poll(`window.__panoptes.panels.find(p => p.title === "Load").state === "ok"`, time.Minute)
	b.screenshot("server-back")
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// TestServerRoleServesUI: `panoptes server` serves the same UI at / as the
// all-in-one default, and fails at start on a --web.dashboards-dir that is
// not there.
func TestServerRoleServesUI(t *testing.T) {
	addr := freePort(t)
	cmd := exec.Command(panoptesBin, "server", "--web.listen-address="+addr, "--storage.tsdb.path="+t.TempDir(), "--log.level=warn")
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/") //nolint:noctx // loopback, test
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `src="assets/app.js"`) {
				t.Fatalf("GET /: %s\n%s", resp.Status, body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("panoptes server did not answer: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, p := range []string{"/assets/app.js", "/assets/app.css", "/api/ui/dashboards/overview"} {
		resp, err := http.Get(base + p) //nolint:noctx // loopback, test
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", p, resp.Status)
		}
	}

	out, err := exec.Command(panoptesBin, "server", "--web.listen-address=127.0.0.1:0", "--storage.tsdb.path="+t.TempDir(), "--web.dashboards-dir=/no/such/dir").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--web.dashboards-dir") || !strings.Contains(string(out), "/no/such/dir") {
		t.Errorf("a missing --web.dashboards-dir: %v\n%s", err, out)
	}
}
