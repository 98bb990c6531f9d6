package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/panoptes-dev/panoptes/internal/testkit/k8s"
)

// serverKubeconfig applies deploy/server/rbac.yaml (ServiceAccount,
// ClusterRole, ClusterRoleBinding in namespace monitoring) and returns a
// kubeconfig that authenticates as that ServiceAccount, so that discovery
// runs with the least RBAC the manifests grant, not as the admin.
func serverKubeconfig(t *testing.T, env *k8s.Env) string {
	t.Helper()
	// deploy/server's fixed names: a second run of the test binary
	// (-count=3) finds them made on the control plane it shares.
	env.Ensure(t, "/api/v1/namespaces", map[string]any{"metadata": map[string]any{"name": "monitoring"}})
	b, err := os.ReadFile("../../deploy/server/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{
		"ServiceAccount":     "/api/v1/namespaces/monitoring/serviceaccounts",
		"ClusterRole":        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
		"ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("parse rbac.yaml: %v", err)
		}
		kind, _ := obj["kind"].(string)
		path, ok := paths[kind]
		if !ok {
			t.Fatalf("rbac.yaml: unexpected kind %q", kind)
		}
		env.Ensure(t, path, obj)
	}
	return env.ServiceAccountKubeconfig(t, "monitoring", "panoptes-server")
}

// TestServerKubernetesSD: the server, running deploy/server's prometheus.yml
// against a real kube-apiserver with only the RBAC of deploy/server, discovers a pod and a service that ask to
// be scraped with the prometheus.io annotations, scrapes them with their
// namespace/pod/service labels (the service's endpoint is discovered and
// relabelled; its documentation address cannot be scraped from here), and
// leaves alone a pod that does not ask.
func TestServerKubernetesSD(t *testing.T) {
	env := k8s.Start(t)

	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "# TYPE k8s_sd_probe gauge\nk8s_sd_probe 1")
	}))
	t.Cleanup(target.Close)
	_, port, err := net.SplitHostPort(strings.TrimPrefix(target.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}

	// A namespace of this run's own: the control plane lives as long as the
	// test binary, so a second run (-count=3) would find the first one's,
	// and without a namespace controller a deleted one never goes away.
	ns := "sd-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	env.Call(t, 201, "POST", "/api/v1/namespaces", "", map[string]any{"metadata": map[string]any{"name": ns}})
	pod := func(name string, annotations map[string]string) {
		env.Call(t, 201, "POST", "/api/v1/namespaces/"+ns+"/pods", "", map[string]any{
			"metadata": map[string]any{"name": name, "annotations": annotations},
			"spec":     map[string]any{"containers": []any{map[string]any{"name": "app", "image": "example.invalid/app"}}},
		})
		// No kubelet here: the test plays it, running the pod on loopback.
		env.Call(t, 200, "PATCH", "/api/v1/namespaces/"+ns+"/pods/"+name+"/status", "application/merge-patch+json", map[string]any{
			"status": map[string]any{"phase": "Running", "podIP": "127.0.0.1", "podIPs": []any{map[string]any{"ip": "127.0.0.1"}}},
		})
	}
	pod("probe", map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": port, "prometheus.io/path": "/metrics"})
	pod("quiet", nil)
	env.Call(t, 201, "POST", "/api/v1/namespaces/"+ns+"/services", "", map[string]any{
		"metadata": map[string]any{"name": "probe-svc", "annotations": map[string]string{"prometheus.io/scrape": "true"}},
		"spec":     map[string]any{"ports": []any{map[string]any{"name": "http", "port": 80}}},
	})
	env.Call(t, 201, "POST", "/api/v1/namespaces/"+ns+"/endpoints", "", map[string]any{
		"metadata": map[string]any{"name": "probe-svc"},
		"subsets": []any{map[string]any{
			// The API refuses loopback endpoint addresses, and tests listen on
			// loopback only: a documentation address (RFC 5737) that is
			// discovered and relabelled but cannot answer.
			"addresses": []any{map[string]any{"ip": "192.0.2.10"}},
			"ports":     []any{map[string]any{"name": "http", "port": atoiT(t, port)}},
		}},
	})

	// deploy/server's config as shipped, pointed at this API server as the
	// ServiceAccount of deploy/server/rbac.yaml (in a cluster the pod's
	// mounted token does the same) and scraping every second.
	b, err := os.ReadFile("../../deploy/server/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	cfg = strings.ReplaceAll(cfg, "      - role: ", "      - kubeconfig_file: "+serverKubeconfig(t, env)+"\n        role: ")
	cfg = strings.Replace(cfg, "scrape_interval: 15s", "scrape_interval: 1s", 1)
	cfg = strings.Replace(cfg, "scrape_timeout: 10s", "scrape_timeout: 1s", 1)
	path := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	_, base := startServer(t, "--config.file="+path)

	waitQuery(t, base, `k8s_sd_probe{job="kubernetes-pods", namespace="`+ns+`", pod="probe"}`, 60*time.Second, nil)
	// The annotated service's endpoint is a target with its service label.
	waitQuery(t, base, `up{job="kubernetes-service-endpoints", namespace="`+ns+`", service="probe-svc", instance="192.0.2.10:`+port+`"}`, 60*time.Second, nil)
	if s := instantQuery(t, base, `up{job="kubernetes-pods", namespace="`+ns+`", pod="quiet"}`); len(s) != 0 {
		t.Errorf("a pod without prometheus.io/scrape was scraped: %v", s)
	}
	_, body := get(t, base+"/api/v1/targets?state=active")
	var targets struct {
		Data struct {
			ActiveTargets []struct {
				DiscoveredLabels map[string]string `json:"discoveredLabels"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &targets); err != nil {
		t.Fatalf("targets: %v: %s", err, body)
	}
	found := false
	for _, tg := range targets.Data.ActiveTargets {
		l := tg.DiscoveredLabels
		found = found || l["__meta_kubernetes_namespace"] == ns && l["__meta_kubernetes_pod_name"] == "probe"
	}
	if !found {
		t.Errorf("no target of the probe pod in %s with its discovered labels: %s", ns, body)
	}
}

func atoiT(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}
