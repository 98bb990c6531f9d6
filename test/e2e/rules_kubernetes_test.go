package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/panoptes-dev/panoptes/internal/testkit/k8s"
)

// TestServerPrometheusRules: `panoptes server --rules.kubernetes`, with
// deploy/server's RBAC against the real API server with deploy/crds'
// PrometheusRule CRD, evaluates the rules of the PrometheusRule objects,
// follows their changes, and leaves out an object that does not load while
// the others go on.
func TestServerPrometheusRules(t *testing.T) {
	env := k8s.Start(t)
	kubeconfig := serverKubeconfig(t, env)

	b, err := os.ReadFile("../../deploy/crds/prometheusrule.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(b, &crd); err != nil {
		t.Fatalf("deploy/crds/prometheusrule.yaml: %v", err)
	}
	env.Ensure(t, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, _, err := env.Do(t.Context(), http.MethodGet, "/apis/monitoring.coreos.com/v1/prometheusrules", "", nil)
		if err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the PrometheusRule CRD is not served: %d %v", code, err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	ns := fmt.Sprintf("rules-%d", time.Now().UnixNano())
	env.Call(t, 201, "POST", "/api/v1/namespaces", "", map[string]any{"metadata": map[string]any{"name": ns}})
	objects := "/apis/monitoring.coreos.com/v1/namespaces/" + ns + "/prometheusrules"
	rule := func(name, group, expr string) map[string]any {
		return map[string]any{
			"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
			"metadata": map[string]any{"name": name, "labels": map[string]any{"role": "alert-rules"}},
			"spec": map[string]any{"groups": []any{map[string]any{
				"name": group,
				"rules": []any{map[string]any{
					"alert": group + "Fires", "expr": expr, "labels": map[string]any{"severity": "warning"},
					"annotations": map[string]any{"summary": "{{ $labels.alertname }} from a PrometheusRule"},
				}},
			}}},
		}
	}
	env.Call(t, 201, "POST", objects, "", rule("good", "Good", "vector(1)"))

	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  evaluation_interval: 1s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, base := startServer(t, "--config.file="+cfg, "--rules.kubernetes",
		"--rules.kubernetes.kubeconfig="+kubeconfig, "--rules.kubernetes.namespaces="+ns,
		"--rules.kubernetes.selector=role=alert-rules")

	// groups returns file -> group names of /api/v1/rules.
	groups := func() map[string][]string {
		_, body := get(t, base+"/api/v1/rules")
		var res struct {
			Data struct {
				Groups []struct{ Name, File string }
			}
		}
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatalf("/api/v1/rules: %v", err)
		}
		out := map[string][]string{}
		for _, g := range res.Data.Groups {
			out[g.File] = append(out[g.File], g.Name)
		}
		return out
	}
	waitGroups := func(what string, cond func(map[string][]string) bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			g := groups()
			if cond(g) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: groups %v\n%s", what, g, srv.logs.String())
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	goodFile := "prometheusrule/" + ns + "/good"
	// Loaded at start-up: the server waited for the first list.
	if g := groups(); len(g[goodFile]) != 1 {
		t.Errorf("at start-up the groups are %v, want %s", g, goodFile)
	}
	deadline = time.Now().Add(60 * time.Second)
	for !strings.Contains(string(getBody(t, base+"/api/v1/alerts")), `"GoodFires"`) {
		if time.Now().After(deadline) {
			t.Fatalf("GoodFires never fired: %s", getBody(t, base+"/api/v1/alerts"))
		}
		time.Sleep(300 * time.Millisecond)
	}

	// A new object loads; one the selector does not take does not; one that
	// does not parse is left out, and the rest go on.
	env.Call(t, 201, "POST", objects, "", rule("second", "Second", "vector(2)"))
	other := rule("unselected", "Unselected", "vector(3)")
	other["metadata"].(map[string]any)["labels"] = map[string]any{"role": "other"}
	env.Call(t, 201, "POST", objects, "", other)
	env.Call(t, 201, "POST", objects, "", rule("broken", "Broken", "sum(rate(x[5m]) by"))
	waitGroups("the second object loads", func(g map[string][]string) bool {
		return len(g["prometheusrule/"+ns+"/second"]) == 1 && len(g[goodFile]) == 1
	})
	g := groups()
	if _, ok := g["prometheusrule/"+ns+"/unselected"]; ok {
		t.Errorf("an object the selector does not take was loaded: %v", g)
	}
	if _, ok := g["prometheusrule/"+ns+"/broken"]; ok {
		t.Errorf("an object that does not parse was loaded: %v", g)
	}
	if !strings.Contains(srv.logs.String(), "broken") {
		t.Errorf("the server did not log the object that does not load:\n%s", srv.logs.String())
	}

	// A deleted object's rules go.
	env.Call(t, 200, "DELETE", objects+"/good", "", nil)
	waitGroups("the deleted object's group goes", func(g map[string][]string) bool {
		_, ok := g[goodFile]
		return !ok && len(g["prometheusrule/"+ns+"/second"]) == 1
	})
}

// getBody fetches url and returns the body.
func getBody(t *testing.T, url string) []byte {
	t.Helper()
	_, body := get(t, url)
	return body
}
