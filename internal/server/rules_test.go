package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/rules"
)

// writeRules writes a prometheus.yml that evaluates every 100 ms and loads
// rules/*.yaml, with the given rule files, and returns the config's path.
func writeRules(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rules"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, "rules", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  evaluation_interval: 100ms\nrule_files: [rules/*.yaml]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

const testRules = `groups:
- name: panoptes-host
  rules:
  - alert: UserVersion
    expr: vector(1)
    labels: {severity: warning}
    annotations: {summary: "value {{ $value }}"}
- name: mine
  rules:
  - record: job:one:sum
    expr: vector(1)
  - alert: Pending
    expr: vector(1)
    for: 1h
  - alert: ManyToMany
    expr: vector(1) + on() (label_replace(vector(1), "a", "1", "", "") or label_replace(vector(2), "a", "2", "", ""))
`

// groupRules lists group name -> rule names of the manager's groups.
func groupRules(groups []*rules.Group) map[string][]string {
	out := map[string][]string{}
	for _, g := range groups {
		for _, r := range g.Rules() {
			out[g.File()+";"+g.Name()] = append(out[g.File()+";"+g.Name()], r.Name())
		}
	}
	return out
}

func TestRulesLoadOverrideAndReload(t *testing.T) {
	t.Parallel()
	cfg := writeRules(t, map[string]string{"a.yaml": testRules})
	builtin := fstest.MapFS{
		"host.yaml":  {Data: []byte("groups:\n- name: panoptes-host\n  rules:\n  - alert: BuiltinVersion\n    expr: vector(1)\n- name: panoptes-other\n  rules:\n  - record: builtin:one\n    expr: vector(1)\n")},
		"empty.yaml": {Data: []byte("groups: []\n")},
	}
	s := newTestServer(t, func(o *Options) {
		o.ConfigFile = cfg
		o.BuiltinRules = true
		o.BuiltinRuleFiles = builtin
	})
	base := runServer(t, s)
	rulesFile := filepath.Join(filepath.Dir(cfg), "rules", "a.yaml")

	got := groupRules(s.RuleGroups())
	want := map[string][]string{
		rulesFile + ";panoptes-host":       {"UserVersion"},
		rulesFile + ";mine":                {"job:one:sum", "Pending", "ManyToMany"},
		"builtin/host.yaml;panoptes-other": {"builtin:one"},
	}
	for k, v := range want {
		if !slices.Equal(got[k], v) {
			t.Errorf("group %s has rules %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("groups %v, want %v: the user's panoptes-host replaces the built-in one", got, want)
	}

	// The alerts fire, stay pending, and the failing rule reports its error
	// while the others go on.
	waitFor(t, 30*time.Second, func() bool {
		body := get(t, base+"/api/v1/alerts")
		return strings.Contains(body, `"alertname":"UserVersion"`) && strings.Contains(body, `"state":"pending"`)
	})
	waitFor(t, 30*time.Second, func() bool {
		var res struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name, Health, LastError string
					}
				}
			}
		}
		if err := json.Unmarshal([]byte(get(t, base+"/api/v1/rules?rule_name[]=ManyToMany")), &res); err != nil {
			t.Fatal(err)
		}
		for _, g := range res.Data.Groups {
			for _, r := range g.Rules {
				if r.Health == "err" && strings.Contains(r.LastError, "many-to-many") {
					return true
				}
			}
		}
		return false
	})
	waitFor(t, 30*time.Second, func() bool {
		return strings.Contains(get(t, base+"/api/v1/query?query="+url.QueryEscape(`ALERTS{alertname="Pending",alertstate="pending"}`)), `"Pending"`)
	})
	if m := get(t, base+"/metrics"); !strings.Contains(m, "prometheus_rule_evaluation_failures_total") || !strings.Contains(m, "prometheus_notifications_queue_capacity 10000") {
		t.Errorf("/metrics lacks prometheus_rule_* or prometheus_notifications_*")
	}

	// A rule file that does not parse rejects the reload as a whole, with
	// the file, group, rule and position; the running rules stay.
	bad := testRules + "  - alert: Broken\n    expr: sum(rate(x[5m]) by\n"
	if err := os.WriteFile(rulesFile, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	err := s.Reload()
	if err == nil {
		t.Fatal("a reload with a broken rule file succeeded")
	}
	for _, w := range []string{rulesFile, `group "mine"`, `"Broken"`, "parse error"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("reload error %q does not name %s", err, w)
		}
	}
	if after := groupRules(s.RuleGroups()); len(after) != len(want) {
		t.Errorf("after a failed reload the groups are %v, want the running ones", after)
	}

	// A good file reloads; the unchanged group keeps its state.
	if err := os.WriteFile(rulesFile, []byte(testRules+"  - record: job:two:sum\n    expr: vector(2)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if r := groupRules(s.RuleGroups())[rulesFile+";mine"]; !slices.Contains(r, "job:two:sum") {
		t.Errorf("after the reload, group mine has %v, want job:two:sum too", r)
	}
}

// TestRulesAlertStateRestored: the "for" state of a pending alert survives
// a restart (ALERTS_FOR_STATE), as Prometheus's --rules.alert.* flags say.
func TestRulesAlertStateRestored(t *testing.T) {
	t.Parallel()
	cfg := writeRules(t, map[string]string{"a.yaml": "groups:\n- name: g\n  rules:\n  - alert: Slow\n    expr: vector(1)\n    for: 1h\n"})
	storage := t.TempDir()
	start := func() (*Server, func()) {
		s := newTestServer(t, func(o *Options) {
			o.ConfigFile, o.StoragePath = cfg, storage
			o.RulesAlertForGracePeriod = time.Second
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx, nil) }()
		return s, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	activeAt := func(s *Server) time.Time {
		for _, r := range s.rules.AlertingRules() {
			for _, a := range r.ActiveAlerts() {
				return a.ActiveAt
			}
		}
		return time.Time{}
	}
	s, stop := start()
	var first time.Time
	waitFor(t, 30*time.Second, func() bool { first = activeAt(s); return !first.IsZero() })
	// The alert is active in memory before its evaluation appends
	// ALERTS_FOR_STATE: stop only once the series is in the storage, and
	// once the alert has been pending long enough to tell a restored alert
	// from a fresh one below.
	waitFor(t, 30*time.Second, func() bool { return hasSeries(t, s, "ALERTS_FOR_STATE") })
	const pending = 15 * time.Second
	waitFor(t, time.Minute, func() bool { return time.Since(first) > pending })
	stop()

	restart := time.Now()
	s, stop = start()
	defer stop()
	// Restoration keeps the time already spent pending: Prometheus moves
	// the stored activeAt (to the second) forward by the downtime only, so
	// the restored alert has been active since about restart-pending. A
	// fresh alert would be active since after restart. The group restores
	// after its second evaluation, so the alert first shows a fresh
	// activeAt: wait for the restored one.
	var restored time.Time
	ok := func() bool {
		restored = activeAt(s)
		return !restored.IsZero() && restored.Before(restart)
	}
	deadline := time.Now().Add(time.Minute)
	for !ok() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !ok() {
		t.Errorf("after the restart at %v the alert is active since %v: not restored (the first run's was active since %v)", restart, restored, first)
	}
}

// hasSeries reports whether the server's storage holds a series named name.
func hasSeries(t *testing.T, s *Server, name string) bool {
	t.Helper()
	q, err := s.Storage().Querier(0, time.Now().Add(time.Minute).UnixMilli())
	if err != nil {
		t.Fatalf("querier: %v", err)
	}
	defer q.Close()
	set := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", name))
	return set.Next()
}

func get(t *testing.T, u string) string {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFirstAlertReachesLocalAlertmanager: an alert that fires at the first
// evaluation after start reaches the in-process Alertmanager at once. The
// notify discovery manager's first update comes after its 5 s throttle, and
// the notifier drops alerts for a set with no Alertmanager yet; with the
// resend delay at an hour, only the first send can deliver it.
func TestFirstAlertReachesLocalAlertmanager(t *testing.T) {
	t.Parallel()
	cfg := writeRules(t, map[string]string{"a.yaml": "groups:\n- name: g\n  rules:\n  - alert: AtOnce\n    expr: vector(1)\n"})
	got := make(chan string, 16)
	s := newTestServer(t, func(o *Options) {
		o.ConfigFile = cfg
		o.RulesAlertResendDelay = time.Hour
		o.LocalAlertmanager = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			select {
			case got <- r.Method + " " + r.URL.Path + " " + string(b):
			default:
			}
		})
	})
	runServer(t, s)
	select {
	case req := <-got:
		if !strings.HasPrefix(req, "POST /alertmanager/api/v2/alerts ") || !strings.Contains(req, `"alertname":"AtOnce"`) {
			t.Errorf("the in-process Alertmanager got %q, want AtOnce posted to /alertmanager/api/v2/alerts", req)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the alert that fired at the first evaluation never reached the in-process Alertmanager (sent before the notifier knew it, and not resent for an hour)")
	}
}
