package kuberules

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/panoptes-dev/panoptes/internal/testkit"
	"github.com/panoptes-dev/panoptes/internal/testkit/k8s"
)

func TestMain(m *testing.M) { k8s.Main(m) }

// crdManifest is deploy/crds/prometheusrule.yaml, decoded.
func crdManifest(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("../../../deploy/crds/prometheusrule.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(b, &crd); err != nil {
		t.Fatalf("deploy/crds/prometheusrule.yaml: %v", err)
	}
	return crd
}

// installCRD installs the manifest's CRD, with its group replaced by group
// unless group is monitoring.coreos.com, and waits until the API server
// serves the resource. The API server refuses a CRD whose schema is not
// structural, so this also checks the manifest.
func installCRD(t *testing.T, env *k8s.Env, group string) {
	t.Helper()
	crd := crdManifest(t)
	spec := crd["spec"].(map[string]any)
	name := "prometheusrules." + group
	crd["metadata"].(map[string]any)["name"] = name
	spec["group"] = group
	env.Ensure(t, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
	eventually(t, func() string {
		var got struct {
			Status struct {
				Conditions []struct{ Type, Status, Message string } `json:"conditions"`
			} `json:"status"`
		}
		b := env.Call(t, http.StatusOK, "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"+name, "", nil)
		if err := json.Unmarshal(b, &got); err != nil {
			return err.Error()
		}
		established := false
		for _, c := range got.Status.Conditions {
			if c.Type == "NonStructuralSchema" && c.Status == "True" {
				t.Fatalf("CRD %s: schema not structural: %s", name, c.Message)
			}
			established = established || c.Type == "Established" && c.Status == "True"
		}
		if !established {
			return "CRD " + name + " not established"
		}
		if code, _, err := env.Do(t.Context(), "GET", "/apis/"+group+"/v1/prometheusrules", "", nil); err != nil || code != http.StatusOK {
			return fmt.Sprintf("prometheusrules of %s not served: %d %v", group, code, err)
		}
		return ""
	})
}

// eventually polls check until it returns "" or a generous deadline (the
// tests pass with both cores busy) passes; then it fails with the last
// answer.
func eventually(t *testing.T, check func() string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90s: %s", msg)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// suffix makes the names of one run unique on a control plane that a
// later run (-count=N, or a reused cluster) shares.
func suffix() string { return fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffffff) }

// running is a Watcher whose Run goroutine the test started.
type running struct {
	*Watcher
	reg     *prometheus.Registry
	log     *testkit.LockedBuffer
	changes atomic.Int64
}

// start runs a Watcher for o against env until the test ends; edit, when
// not nil, adjusts the Watcher before Run (the resource, the timing).
func start(t *testing.T, env *k8s.Env, o *Options, edit func(*Watcher)) *running {
	t.Helper()
	o.Kubeconfig = env.Kubeconfig
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	r := &running{reg: prometheus.NewRegistry(), log: &testkit.LockedBuffer{}}
	logger := slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w, err := New(o, logger, r.reg)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(w)
	}
	r.Watcher = w
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, func() { r.changes.Add(1) }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return within 30s of its context's end")
		}
		if t.Failed() {
			t.Logf("watcher's log:\n%s", r.log.String())
		}
	})
	return r
}

// gauge is the value of the named gauge with labels, and whether the
// registry has it.
func (r *running) gauge(t *testing.T, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			if !maps.Equal(got, labels) {
				continue metrics
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// wantFiles waits until the watcher's files have exactly the identifiers
// want (namespace/name), and checks that each one is a rule file.
func (r *running) wantFiles(t *testing.T, what string, want ...string) map[string][]byte {
	t.Helper()
	for i := range want {
		want[i] = IdentifierPrefix + want[i]
	}
	slices.Sort(want)
	var files map[string][]byte
	eventually(t, func() string {
		files = r.Files()
		got := slices.Sorted(maps.Keys(files))
		if diff := cmp.Diff(want, got); diff != "" {
			return what + ": files (-want +got):\n" + diff
		}
		return ""
	})
	p := parser.NewParser(parser.Options{})
	for id, content := range files {
		if _, errs := rulefmt.Parse(content, false, model.UTF8Validation, p, nil); len(errs) > 0 {
			t.Errorf("%s: %s does not pass rulefmt.Parse: %v\n%s", what, id, errs, content)
		}
	}
	return files
}

// waitChanged waits until onChange was called since before was read.
func (r *running) waitChanged(t *testing.T, what string, before int64) {
	t.Helper()
	eventually(t, func() string {
		if r.changes.Load() <= before {
			return what + ": onChange not called"
		}
		return ""
	})
}

func ruleObject(name string, labels map[string]string, groups ...any) map[string]any {
	return map[string]any{
		"apiVersion": "monitoring.coreos.com/v1",
		"kind":       "PrometheusRule",
		"metadata":   map[string]any{"name": name, "labels": labels},
		"spec":       map[string]any{"groups": groups},
	}
}

func group(name string, rules ...map[string]any) map[string]any {
	return map[string]any{"name": name, "rules": rules}
}

// TestWatcher: against the real API server with the CRD of
// deploy/crds installed, the files follow objects created, updated and
// deleted; label and namespace selectors filter; an invalid object is left
// out and reported (log, metric, Event) while the others load.
func TestWatcher(t *testing.T) {
	env := k8s.Start(t)
	installCRD(t, env, PrometheusRules.Group)
	sfx := suffix()
	nsA, nsB := "kuberules-a-"+sfx, "kuberules-b-"+sfx
	for ns, team := range map[string]string{nsA: "a", nsB: "b"} {
		env.Call(t, http.StatusCreated, "POST", "/api/v1/namespaces", "", map[string]any{
			"metadata": map[string]any{"name": ns, "labels": map[string]any{"kuberules-run": sfx, "team": team}},
		})
		t.Cleanup(func() { _, _, _ = env.Do(context.Background(), "DELETE", "/api/v1/namespaces/"+ns, "", nil) })
	}
	rules := func(ns string) string { return "/apis/monitoring.coreos.com/v1/namespaces/" + ns + "/prometheusrules" }

	// Three watchers with different selections, each on its own registry.
	all := start(t, env, &Options{Namespaces: []string{nsA, nsB}}, nil)
	byLabel := start(t, env, &Options{LabelSelector: "role=alert-rules,kuberules-run=" + sfx}, nil)
	byNamespace := start(t, env, &Options{NamespaceSelector: "kuberules-run=" + sfx + ",team=a"}, nil)
	eventually(t, func() string {
		for _, w := range []*running{all, byLabel, byNamespace} {
			if !w.Synced() {
				return "a watcher has not synced"
			}
		}
		return ""
	})
	if f := all.Files(); len(f) != 0 {
		t.Errorf("files before any object: %v", slices.Sorted(maps.Keys(f)))
	}

	alertRules := map[string]string{"role": "alert-rules", "kuberules-run": sfx}
	otherRules := map[string]string{"role": "other", "kuberules-run": sfx}
	before := all.changes.Load()
	env.Call(t, http.StatusCreated, "POST", rules(nsA), "", ruleObject("r1", alertRules,
		map[string]any{"name": "recording", "interval": "30s", "partial_response_strategy": "warn", "rules": []any{
			map[string]any{"record": "job:up:sum", "expr": "sum by (job) (up)"},
		}},
		group("alerting", map[string]any{"alert": "JobDown", "expr": "job:up:sum == 0", "for": "5m",
			"labels": map[string]any{"severity": "page"}, "annotations": map[string]any{"summary": "{{ $labels.job }} is down"}}),
	))
	env.Call(t, http.StatusCreated, "POST", rules(nsB), "", ruleObject("r2", otherRules,
		group("one", map[string]any{"record": "one", "expr": 1})))
	// Accepted by the API server (the schema does not know PromQL), not by
	// Prometheus's parser: a bad expression and a rule that both records
	// and alerts.
	env.Call(t, http.StatusCreated, "POST", rules(nsB), "", ruleObject("bad", alertRules,
		group("broken", map[string]any{"alert": "Broken", "expr": "sum(up"}, map[string]any{"record": "r", "alert": "A", "expr": "up"})))

	files := all.wantFiles(t, "Namespaces", nsA+"/r1", nsB+"/r2")
	all.waitChanged(t, "objects created", before)
	wantR1 := `groups:
  - name: recording
    interval: 30s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
  - name: alerting
    rules:
      - alert: JobDown
        expr: job:up:sum == 0
        for: 5m
        labels:
          severity: page
        annotations:
          summary: '{{ $labels.job }} is down'
`
	if diff := cmp.Diff(wantR1, string(files[IdentifierPrefix+nsA+"/r1"])); diff != "" {
		t.Errorf("rule file of %s/r1 (-want +got):\n%s", nsA, diff)
	}
	byLabel.wantFiles(t, "LabelSelector", nsA+"/r1")
	byNamespace.wantFiles(t, "NamespaceSelector", nsA+"/r1")

	// The invalid object: reported by the watchers that select it.
	badLabels := map[string]string{"namespace": nsB, "name": "bad"}
	for what, w := range map[string]*running{"Namespaces": all, "LabelSelector": byLabel} {
		if v, ok := w.gauge(t, "panoptes_prometheusrule_invalid", badLabels); !ok || v != 1 {
			t.Errorf("%s: panoptes_prometheusrule_invalid%v = %v (present %v), want 1", what, badLabels, v, ok)
		}
		log := w.log.String()
		if !strings.Contains(log, "name=bad") || !strings.Contains(log, "unclosed left parenthesis") || !strings.Contains(log, "only one of 'record' and 'alert' must be set") {
			t.Errorf("%s: the log does not name %s/bad with the parser's errors:\n%s", what, nsB, log)
		}
	}
	if _, ok := byNamespace.gauge(t, "panoptes_prometheusrule_invalid", badLabels); ok {
		t.Errorf("NamespaceSelector: %s/bad reported, but its namespace is not selected", nsB)
	}
	if v, _ := all.gauge(t, "panoptes_prometheusrule_files", map[string]string{}); v != 2 {
		t.Errorf("Namespaces: panoptes_prometheusrule_files = %v, want 2", v)
	}
	eventually(t, func() string {
		var events struct {
			Items []struct{ Type, Reason, Message string } `json:"items"`
		}
		b := env.Call(t, http.StatusOK, "GET", "/api/v1/namespaces/"+nsB+"/events?fieldSelector=involvedObject.name%3Dbad", "", nil)
		if err := json.Unmarshal(b, &events); err != nil {
			return err.Error()
		}
		for _, e := range events.Items {
			if e.Type == "Warning" && e.Reason == "InvalidConfiguration" && strings.Contains(e.Message, "unclosed left parenthesis") {
				return ""
			}
		}
		return fmt.Sprintf("no Warning InvalidConfiguration Event on %s/bad: %s", nsB, b)
	})

	// Update: the new content; fixing the bad object loads it and clears
	// its report.
	before = all.changes.Load()
	env.Call(t, http.StatusOK, "PATCH", rules(nsA)+"/r1", "application/merge-patch+json", map[string]any{
		"spec": map[string]any{"groups": []any{group("recording", map[string]any{"record": "job:up:count", "expr": "count by (job) (up)"})}},
	})
	eventually(t, func() string {
		if got := string(all.Files()[IdentifierPrefix+nsA+"/r1"]); !strings.Contains(got, "count by (job) (up)") {
			return "update of r1 not seen:\n" + got
		}
		return ""
	})
	all.waitChanged(t, "object updated", before)
	env.Call(t, http.StatusOK, "PATCH", rules(nsB)+"/bad", "application/merge-patch+json", map[string]any{
		"spec": map[string]any{"groups": []any{group("broken", map[string]any{"alert": "Fixed", "expr": "sum(up) == 0"})}},
	})
	all.wantFiles(t, "Namespaces, bad fixed", nsA+"/r1", nsB+"/r2", nsB+"/bad")
	byLabel.wantFiles(t, "LabelSelector, bad fixed", nsA+"/r1", nsB+"/bad")
	if _, ok := all.gauge(t, "panoptes_prometheusrule_invalid", badLabels); ok {
		t.Errorf("panoptes_prometheusrule_invalid still reports %s/bad once it is fixed", nsB)
	}

	// A label change moves an object out of the label selector.
	env.Call(t, http.StatusOK, "PATCH", rules(nsA)+"/r1", "application/merge-patch+json", map[string]any{
		"metadata": map[string]any{"labels": map[string]any{"role": "other"}},
	})
	byLabel.wantFiles(t, "LabelSelector, r1 relabelled", nsB+"/bad")

	// A namespace's label change moves its objects into the namespace selector.
	env.Call(t, http.StatusOK, "PATCH", "/api/v1/namespaces/"+nsB, "application/merge-patch+json", map[string]any{
		"metadata": map[string]any{"labels": map[string]any{"team": "a"}},
	})
	byNamespace.wantFiles(t, "NamespaceSelector, namespace relabelled", nsA+"/r1", nsB+"/r2", nsB+"/bad")

	// Delete.
	before = all.changes.Load()
	env.Call(t, http.StatusOK, "DELETE", rules(nsB)+"/r2", "", nil)
	all.wantFiles(t, "Namespaces, r2 deleted", nsA+"/r1", nsB+"/bad")
	all.waitChanged(t, "object deleted", before)
}

// TestWatcherCRDLater: without the CRD the watcher logs it once, is synced
// with no files and returns no error; once the CRD is installed it picks
// the objects up without a restart, and drops them when the CRD goes. The
// resource is a group of the test's own, so that the real CRD that other
// tests install on a shared control plane does not matter.
func TestWatcherCRDLater(t *testing.T) {
	env := k8s.Start(t)
	sfx := suffix()
	grp := "kuberules" + sfx + ".panoptes.dev"
	gvr := PrometheusRules
	gvr.Group = grp
	w := start(t, env, &Options{}, func(w *Watcher) {
		w.gvr = gvr
		w.crdRetry = 500 * time.Millisecond
	})
	eventually(t, func() string {
		if !w.Synced() || !strings.Contains(w.log.String(), "PrometheusRule CRD not found") {
			return "no \"PrometheusRule CRD not found\" line, or not synced:\n" + w.log.String()
		}
		return ""
	})
	if v, ok := w.gauge(t, "panoptes_prometheusrule_crd_present", map[string]string{}); !ok || v != 0 {
		t.Errorf("panoptes_prometheusrule_crd_present = %v (present %v), want 0", v, ok)
	}
	// Looked for again, but said once.
	time.Sleep(2 * time.Second)
	if n := strings.Count(w.log.String(), "PrometheusRule CRD not found"); n != 1 {
		t.Errorf("%d lines say the CRD is not found, want 1:\n%s", n, w.log.String())
	}

	ns := "kuberules-later-" + sfx
	env.Call(t, http.StatusCreated, "POST", "/api/v1/namespaces", "", map[string]any{"metadata": map[string]any{"name": ns}})
	t.Cleanup(func() { _, _, _ = env.Do(context.Background(), "DELETE", "/api/v1/namespaces/"+ns, "", nil) })
	installCRD(t, env, grp)
	crdPath := "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/prometheusrules." + grp
	t.Cleanup(func() { _, _, _ = env.Do(context.Background(), "DELETE", crdPath, "", nil) })
	obj := ruleObject("later", nil, group("g", map[string]any{"record": "r", "expr": "vector(1)"}))
	obj["apiVersion"] = grp + "/v1"
	env.Call(t, http.StatusCreated, "POST", "/apis/"+grp+"/v1/namespaces/"+ns+"/prometheusrules", "", obj)
	w.wantFiles(t, "after the CRD was installed", ns+"/later")
	if v, _ := w.gauge(t, "panoptes_prometheusrule_crd_present", map[string]string{}); v != 1 {
		t.Errorf("panoptes_prometheusrule_crd_present = %v, want 1", v)
	}

	before := w.changes.Load()
	env.Call(t, http.StatusOK, "DELETE", crdPath, "", nil)
	w.wantFiles(t, "after the CRD was deleted")
	w.waitChanged(t, "CRD deleted", before)
}

// TestWatcherNamespacedRBAC: with Namespaces, a ServiceAccount that may
// only list and watch PrometheusRule objects (and write Events) in that
// namespace is enough: no cluster-wide access, no access to CRDs.
func TestWatcherNamespacedRBAC(t *testing.T) {
	env := k8s.Start(t)
	installCRD(t, env, PrometheusRules.Group)
	sfx := suffix()
	ns := "kuberules-rbac-" + sfx
	env.Call(t, http.StatusCreated, "POST", "/api/v1/namespaces", "", map[string]any{"metadata": map[string]any{"name": ns}})
	t.Cleanup(func() { _, _, _ = env.Do(context.Background(), "DELETE", "/api/v1/namespaces/"+ns, "", nil) })
	env.Call(t, http.StatusCreated, "POST", "/api/v1/namespaces/"+ns+"/serviceaccounts", "", map[string]any{"metadata": map[string]any{"name": "server"}})
	env.Call(t, http.StatusCreated, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/"+ns+"/roles", "", map[string]any{
		"metadata": map[string]any{"name": "rules-reader"},
		"rules": []any{
			map[string]any{"apiGroups": []string{"monitoring.coreos.com"}, "resources": []string{"prometheusrules"}, "verbs": []string{"list", "watch"}},
			map[string]any{"apiGroups": []string{""}, "resources": []string{"events"}, "verbs": []string{"create", "patch"}},
		},
	})
	env.Call(t, http.StatusCreated, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/"+ns+"/rolebindings", "", map[string]any{
		"metadata": map[string]any{"name": "rules-reader"},
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "rules-reader"},
		"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": "server", "namespace": ns}},
	})
	path := "/apis/monitoring.coreos.com/v1/namespaces/" + ns + "/prometheusrules"
	env.Call(t, http.StatusCreated, "POST", path, "", ruleObject("ok", nil, group("g", map[string]any{"record": "r", "expr": "vector(1)"})))
	env.Call(t, http.StatusCreated, "POST", path, "", ruleObject("bad", nil, group("g", map[string]any{"alert": "A", "expr": "rate(up[5m]"})))

	sa := &k8s.Env{Kubeconfig: env.ServiceAccountKubeconfig(t, ns, "server")}
	w := start(t, sa, &Options{Namespaces: []string{ns}}, nil)
	w.wantFiles(t, "as the ServiceAccount", ns+"/ok")
	if v, ok := w.gauge(t, "panoptes_prometheusrule_invalid", map[string]string{"namespace": ns, "name": "bad"}); !ok || v != 1 {
		t.Errorf("panoptes_prometheusrule_invalid = %v (present %v), want 1", v, ok)
	}
	eventually(t, func() string {
		b := env.Call(t, http.StatusOK, "GET", "/api/v1/namespaces/"+ns+"/events?fieldSelector=involvedObject.name%3Dbad", "", nil)
		if !strings.Contains(string(b), "InvalidConfiguration") {
			return "no InvalidConfiguration Event written as the ServiceAccount: " + string(b)
		}
		return ""
	})
}

// TestWatcherAPIServerDown: with no API server to answer, Run logs why,
// stays unsynced (the server's wait for it times out) and returns nil as
// soon as its context ends.
func TestWatcherAPIServerDown(t *testing.T) {
	t.Parallel()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://`+testkit.FreePort(t)+`"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	w := start(t, &k8s.Env{Kubeconfig: kubeconfig}, &Options{}, func(w *Watcher) { w.crdRetry = 100 * time.Millisecond })
	eventually(t, func() string {
		if !strings.Contains(w.log.String(), "cannot tell whether the API server serves PrometheusRule objects") {
			return "no log line about the unreachable API server:\n" + w.log.String()
		}
		return ""
	})
	if w.Synced() {
		t.Error("Synced() = true without an API server")
	}
	if f := w.Files(); len(f) != 0 {
		t.Errorf("files without an API server: %v", f)
	}
}
