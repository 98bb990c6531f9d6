package ui

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/panoptes-dev/panoptes/internal/testkit"
)

// testRules is a rule file in Prometheus's format: an alert that fires at
// once with labels (one from its series, which the annotation's $labels
// sees, one from the rule) and templated annotations, one that stays pending for an
// hour, one that never fires, a recording rule, and one whose query fails
// at every evaluation (many-to-many matching), so that it is unhealthy.
const testRules = `groups:
  - name: ui-alerts
    rules:
      - alert: AlwaysFiring
        expr: label_replace(vector(1), "team", "ops", "", "")
        labels: {severity: critical}
        annotations:
          summary: 'Always firing for team {{ $labels.team }} with value {{ $value }}'
          description: Fires at once from vector(1).
          runbook_url: https://example.invalid/runbooks/always
      - alert: LongPending
        expr: vector(2)
        for: 1h
        keep_firing_for: 5m
        labels: {severity: warning}
        annotations:
          summary: 'pending for an hour at {{ $value }}'
      - alert: NeverFires
        expr: vector(1) == 2
        labels: {severity: info}
  - name: ui-records
    rules:
      - record: ui:test:sum
        expr: sum(vector(3))
      - record: ui:broken:many_to_many
        expr: 'label_replace(vector(1), "a", "x", "", "") + on() (label_replace(vector(1), "a", "x", "", "") or label_replace(vector(2), "a", "y", "", ""))'
`

// manyToMany is the error text of ui:broken:many_to_many.
const manyToMany = "many-to-many matching not allowed"

// ruleInfo is a rule of /api/v1/rules, the parts the tests compare.
type ruleInfo struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Health    string `json:"health"`
	State     string `json:"state"`
	LastError string `json:"lastError"`
	Alerts    []struct {
		State string `json:"state"`
	} `json:"alerts"`
}

// writeRulesConfig writes prometheus.yml (evaluation every second) and the
// rule file it names into dir and returns the configuration's path.
func writeRulesConfig(t *testing.T, dir, rules string) string {
	t.Helper()
	cfg := "global:\n  evaluation_interval: 1s\n"
	if rules != "" {
		cfg += "rule_files: [rules.yml]\n"
		writeFile(t, filepath.Join(dir, "rules.yml"), rules)
	}
	p := filepath.Join(dir, "prometheus.yml")
	writeFile(t, p, cfg)
	return p
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startRulesServer runs `panoptes server` (no collectors, no built-in rules:
// only the test's rule file) on a free loopback port.
func startRulesServer(t *testing.T, config string) *server {
	t.Helper()
	s := &server{addr: freePort(t), dir: t.TempDir()}
	s.proc = testkit.Start(t, panoptesBin, "server", "--web.listen-address="+s.addr, "--storage.tsdb.path="+s.dir,
		"--config.file="+config, "--rules.builtin=false", "--log.level=error", "--web.enable-lifecycle")
	s.logs = s.proc.Logs
	s.waitReady(t)
	return s
}

// getJSON decodes the answer to GET path.
func (s *server) getJSON(t *testing.T, path string, out any) {
	t.Helper()
	resp, err := http.Get(s.url(path)) //nolint:noctx // loopback, test
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// rules returns the server's rules by name.
func (s *server) rules(t *testing.T) map[string]ruleInfo {
	t.Helper()
	var out struct {
		Data struct {
			Groups []struct {
				Rules []ruleInfo `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	s.getJSON(t, "/api/v1/rules", &out)
	m := map[string]ruleInfo{}
	for _, g := range out.Data.Groups {
		for _, r := range g.Rules {
			m[r.Name] = r
		}
	}
	return m
}

// waitRules polls /api/v1/rules until ok holds.
func (s *server) waitRules(t *testing.T, what string, ok func(map[string]ruleInfo) bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		r := s.rules(t)
		if ok(r) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("rules never showed %s: %+v", what, r)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// reload asks the server to read its configuration and rule files again.
func (s *server) reload(t *testing.T) {
	t.Helper()
	resp, err := http.Post(s.url("/-/reload"), "", nil) //nolint:noctx // loopback, test
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reload: %s %s", resp.Status, body)
	}
}

// evaluated: the firing and the pending alert are there and the broken
// rule has failed, so that every page shows the state the test checks.
func evaluated(r map[string]ruleInfo) bool {
	return r["AlwaysFiring"].State == "firing" && r["LongPending"].State == "pending" &&
		r["ui:broken:many_to_many"].Health == "err" && r["ui:test:sum"].Health == "ok" && r["NeverFires"].Health == "ok"
}

// alertRow is a row of the Alerts page.
type alertRow struct {
	Name  string `json:"name"`
	State string `json:"state"`
	Text  string `json:"text"`
}

const alertRowsJS = `[...document.querySelectorAll('tr.alert')].map(r => ({name: r.dataset.alertname, state: r.dataset.state, text: r.innerText}))`

// setFilter types a filter into the page's search box.
func setFilter(b *browser, value string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](`(() => { const i = document.querySelector('input[type=search]'); i.value = ` + jsString(value) + `; i.dispatchEvent(new Event("input")); })()`))
}

// TestAlertsAndRules: `panoptes server` with a rule file. The Alerts page
// shows the firing and the pending alert grouped by rule, with labels,
// templated annotations, value and since when, a badge with the firing
// count, the inactive rule behind its toggle, and the filter; no Silence
// action without the built-in Alertmanager. The Rules page shows health ok
// and err with the error text, and the query opens Explore. Then the empty
// states: nothing firing, and no rules loaded.
func TestAlertsAndRules(t *testing.T) {
	requireChromium(t)
	dir := t.TempDir()
	s := startRulesServer(t, writeRulesConfig(t, dir, testRules))
	s.waitRules(t, "the firing, pending and failing rules", evaluated)
	b := newBrowser(t, 1400, 1000)

	b.open(s.url("/#/alerts"))
	rows := eval[[]alertRow](b, alertRowsJS)
	byName := map[string]alertRow{}
	for _, r := range rows {
		byName[r.Name] = r
	}
	if len(rows) != 2 {
		t.Errorf("the Alerts page shows %d alerts, want AlwaysFiring and LongPending: %+v", len(rows), rows)
	}
	fire := byName["AlwaysFiring"]
	for _, want := range []string{"firing", `severity="critical"`, `team="ops"`, "Always firing for team ops with value 1", "Fires at once from vector(1).", "runbook_url", "ago"} {
		if !strings.Contains(fire.Text, want) {
			t.Errorf("the firing alert's row lacks %q: %q", want, fire.Text)
		}
	}
	if fire.State != "firing" {
		t.Errorf("AlwaysFiring's row is %q", fire.State)
	}
	pend := byName["LongPending"]
	if pend.State != "pending" || !strings.Contains(pend.Text, "pending for an hour at 2") || !strings.Contains(pend.Text, `severity="warning"`) {
		t.Errorf("the pending alert's row: %+v", pend)
	}
	// Grouped by rule group, with its file.
	if g := eval[string](b, `document.querySelector('section.alert-group[data-group="ui-alerts"] .panel-title').innerText`); !strings.Contains(g, "rules.yml") {
		t.Errorf("the group's title %q does not name its file", g)
	}
	// The summary is the prominent line; the runbook is a link.
	if sum := eval[string](b, `document.querySelector('tr.alert[data-alertname=AlwaysFiring] .summary').textContent`); sum != "Always firing for team ops with value 1" {
		t.Errorf("summary shown as %q", sum)
	}
	if href := eval[string](b, `document.querySelector('tr.alert[data-alertname=AlwaysFiring] .annotation a').href`); href != "https://example.invalid/runbooks/always" {
		t.Errorf("runbook link %q", href)
	}
	// No built-in Alertmanager here: no Silence action at all.
	if n := eval[int](b, `document.querySelectorAll('button.silence, td.actions').length`); n != 0 {
		t.Errorf("%d silence actions without an Alertmanager", n)
	}
	// The navigation's badge counts the firing alert.
	b.poll(`(document.querySelector('nav a[href^="#/alerts"] .badge') || {}).textContent === "1"`, time.Minute)
	b.screenshot("alerts")

	// The inactive rule is behind its toggle, collapsed.
	if n := eval[int](b, `document.querySelectorAll('details.rule[data-rule=NeverFires]').length`); n != 0 {
		t.Errorf("the inactive rule is shown with the inactive toggle off")
	}
	b.do(chromedp.Click(chromedp.CSS(`input[data-state=inactive]`)))
	b.poll(`!!document.querySelector('details.rule[data-rule=NeverFires]')`, time.Minute)
	if open := eval[bool](b, `document.querySelector('details.rule[data-rule=NeverFires]').open`); open {
		t.Errorf("the inactive rule is expanded")
	}
	if st := eval[string](b, `new URLSearchParams(location.hash.split("?")[1]).get("state")`); st != "firing,pending,inactive" {
		t.Errorf("the state toggles in the URL: %q", st)
	}
	// A label matcher filters; so does plain text.
	setFilter(b, `severity="warning"`)
	if got := eval[[]alertRow](b, alertRowsJS); len(got) != 1 || got[0].Name != "LongPending" {
		t.Errorf(`filter severity="warning" shows %+v`, got)
	}
	if n := eval[int](b, `document.querySelectorAll('details.rule').length`); n != 1 {
		t.Errorf(`filter severity="warning" shows %d rules`, n)
	}
	setFilter(b, `always`)
	if got := eval[[]alertRow](b, alertRowsJS); len(got) != 1 || got[0].Name != "AlwaysFiring" {
		t.Errorf("filter always shows %+v", got)
	}
	setFilter(b, `team=~"db|web"`)
	b.poll(`document.querySelector('.alert-groups').innerText.includes("No alert matches the filter.")`, time.Minute)

	b.open(s.url("/#/rules"))
	health := eval[map[string]string](b, `Object.fromEntries([...document.querySelectorAll('tr.rule')].map(r => [r.dataset.name, r.cells[1].innerText]))`)
	want := map[string]string{"AlwaysFiring": "ok", "LongPending": "ok", "NeverFires": "ok", "ui:test:sum": "ok", "ui:broken:many_to_many": "err"}
	for name, h := range want {
		if health[name] != h {
			t.Errorf("the Rules page shows %s with health %q, want %q", name, health[name], h)
		}
	}
	if msg := eval[string](b, `(document.querySelector('tr.rule-error[data-name="ui:broken:many_to_many"]') || {}).innerText || ""`); !strings.Contains(msg, manyToMany) {
		t.Errorf("the failing rule's error is shown as %q, want %q", msg, manyToMany)
	}
	page := eval[string](b, `document.querySelector('main').innerText`)
	for _, w := range []string{"5 rules in 2 groups, 1 unhealthy", "ui-alerts", "ui-records", "rules.yml", "every 1s", "for 1h, keep firing 5m", "sum(vector(3))", "ago"} {
		if !strings.Contains(page, w) {
			t.Errorf("the Rules page lacks %q", w)
		}
	}
	b.screenshot("rules")
	b.do(chromedp.Click(chromedp.CSS(`input.errors-only`)))
	if names := eval[[]string](b, `[...document.querySelectorAll('tr.rule')].map(r => r.dataset.name)`); len(names) != 1 || names[0] != "ui:broken:many_to_many" {
		t.Errorf("only unhealthy shows %q", names)
	}
	b.do(chromedp.Click(chromedp.CSS(`input.errors-only`)))
	// The query opens Explore with it.
	b.do(chromedp.Evaluate[chromedp.Void](`window.__panoptes.ready = false`))
	b.do(chromedp.Click(chromedp.CSS(`tr.rule[data-name="ui:test:sum"] a.expr`)))
	b.poll(`location.hash.startsWith("#/explore")`, time.Minute)
	b.waitReady()
	if q := eval[string](b, `document.querySelector('textarea.promql').value`); q != "sum(vector(3))" {
		t.Errorf("Explore opened with %q", q)
	}

	// Nothing firing: only the inactive rule is left.
	writeFile(t, filepath.Join(dir, "rules.yml"), "groups:\n  - name: quiet\n    rules:\n      - alert: NeverFires\n        expr: vector(1) == 2\n")
	s.reload(t)
	s.waitRules(t, "only NeverFires", func(r map[string]ruleInfo) bool { return len(r) == 1 && r["NeverFires"].Health == "ok" })
	b.open(s.url("/#/alerts"))
	if txt := eval[string](b, `document.querySelector('.alert-groups').innerText`); !strings.Contains(txt, "Nothing is firing.") {
		t.Errorf("with nothing firing the Alerts page says %q", txt)
	}
	if n := eval[int](b, `document.querySelectorAll('nav a[href^="#/alerts"] .badge').length`); n != 0 {
		t.Errorf("a badge with nothing firing")
	}
	b.screenshot("alerts-nothing-firing")

	// No rules at all: both pages say how to load them.
	writeRulesConfig(t, dir, "")
	s.reload(t)
	s.waitRules(t, "no rules", func(r map[string]ruleInfo) bool { return len(r) == 0 })
	for _, p := range []string{"alerts", "rules"} {
		b.open(s.url("/#/" + p))
		txt := eval[string](b, `document.querySelector('main').innerText`)
		for _, w := range []string{"No rules are loaded.", "rule_files", "--config.file", "/-/reload"} {
			if !strings.Contains(txt, w) {
				t.Errorf("the %s page without rules lacks %q:\n%s", p, w, txt)
			}
		}
	}
	b.screenshot("rules-none")
	b.noPageErrors()
}
