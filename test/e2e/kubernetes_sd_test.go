package e2e

import (
	"bytes"
	"context"
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
	"sync"
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

// TestServerScrapesKubeletAndAPIServer: deploy/server's kubelet-metrics and
// apiserver jobs, run as in the pod (the ServiceAccount's token and CA
// files, the RBAC of deploy/server), scrape the real kube-apiserver's
// /metrics and a node's kubelet with kube-prometheus' labels. The kubelet
// is played by a TLS server that authorizes as the kubelet does: a
// TokenReview of the bearer token, then a SubjectAccessReview for get on
// nodes/metrics.
func TestServerScrapesKubeletAndAPIServer(t *testing.T) {
	env := k8s.Start(t)
	kubeconfig := serverKubeconfig(t, env)
	saDir := env.ServiceAccountDir(t, "monitoring", "panoptes-server")

	node := "kubelet-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	var mu sync.Mutex
	var refusals []string
	kubelet := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if why := kubeletAuthorize(r, env, node); why != "" {
			mu.Lock()
			refusals = append(refusals, why)
			mu.Unlock()
			http.Error(w, why, http.StatusForbidden)
			return
		}
		fmt.Fprintln(w, "# TYPE kubelet_running_pods gauge\nkubelet_running_pods 3")
	}))
	t.Cleanup(kubelet.Close)
	_, kport, err := net.SplitHostPort(strings.TrimPrefix(kubelet.URL, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	env.Call(t, 201, "POST", "/api/v1/nodes", "", map[string]any{"metadata": map[string]any{"name": node}})
	t.Cleanup(func() { env.Call(t, 200, "DELETE", "/api/v1/nodes/"+node, "", nil) })
	env.Call(t, 200, "PATCH", "/api/v1/nodes/"+node+"/status", "application/merge-patch+json", map[string]any{
		"status": map[string]any{
			"addresses":       []any{map[string]any{"type": "InternalIP", "address": "127.0.0.1"}},
			"daemonEndpoints": map[string]any{"kubeletEndpoint": map[string]any{"Port": atoiT(t, kport)}},
		},
	})

	// default/kubernetes, as the API server's endpoint reconciler (off
	// here) keeps it: the API refuses loopback endpoint addresses, so it
	// holds a documentation address (RFC 5737) that the test maps to the
	// API server's own.
	env.Ensure(t, "/api/v1/namespaces/default/services", map[string]any{
		"metadata": map[string]any{"name": "kubernetes"},
		"spec":     map[string]any{"ports": []any{map[string]any{"name": "https", "port": 443, "targetPort": 6443}}},
	})
	env.Ensure(t, "/api/v1/namespaces/default/endpoints", map[string]any{
		"metadata": map[string]any{"name": "kubernetes"},
		"subsets": []any{map[string]any{
			"addresses": []any{map[string]any{"ip": "192.0.2.1"}},
			"ports":     []any{map[string]any{"name": "https", "port": 6443}},
		}},
	})
	apiHost := strings.TrimPrefix(env.URL, "https://")

	b, err := os.ReadFile("../../deploy/server/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := inClusterServerConfig(t, string(b), kubeconfig, saDir, "", apiHost)
	cfg = strings.Replace(cfg, "scrape_interval: 15s", "scrape_interval: 1s", 1)
	cfg = strings.Replace(cfg, "scrape_timeout: 10s", "scrape_timeout: 1s", 1)
	path := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	_, base := startServer(t, "--config.file="+path)

	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if t.Failed() && len(refusals) > 0 {
			t.Logf("the kubelet refused %d scrape(s), the first: %s", len(refusals), refusals[0])
		}
	})
	waitQuery(t, base, `kubelet_running_pods{job="kubelet", metrics_path="/metrics", node="`+node+`", instance="127.0.0.1:`+kport+`"} == 3`, 60*time.Second, nil)
	waitQuery(t, base, `apiserver_request_total{job="apiserver", namespace="default", service="kubernetes", endpoint="https", instance="`+apiHost+`"}`, 60*time.Second, nil)
}

// kubeletAuthorize authorizes a request to a kubelet's /metrics as the
// kubelet's webhook mode does, and returns why it refuses ("" to serve).
func kubeletAuthorize(r *http.Request, env *k8s.Env, node string) string {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || r.URL.Path != "/metrics" {
		return fmt.Sprintf("%s without a bearer token or not /metrics", r.URL.Path)
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	body, _ := json.Marshal(map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": map[string]any{"token": token}})
	code, resp, err := env.Do(ctx, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", "", body)
	var tr struct {
		Status struct {
			Authenticated bool `json:"authenticated"`
			User          struct {
				Username string   `json:"username"`
				Groups   []string `json:"groups"`
				UID      string   `json:"uid"`
			} `json:"user"`
		} `json:"status"`
	}
	if err != nil || code != http.StatusCreated || json.Unmarshal(resp, &tr) != nil || !tr.Status.Authenticated {
		return fmt.Sprintf("TokenReview: %d %v %s", code, err, resp)
	}
	body, _ = json.Marshal(map[string]any{"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": map[string]any{
		"user": tr.Status.User.Username, "groups": tr.Status.User.Groups, "uid": tr.Status.User.UID,
		"resourceAttributes": map[string]any{"verb": "get", "resource": "nodes", "subresource": "metrics", "name": node},
	}})
	code, resp, err = env.Do(ctx, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", "", body)
	var sar struct {
		Status struct {
			Allowed bool `json:"allowed"`
		} `json:"status"`
	}
	if err != nil || code != http.StatusCreated || json.Unmarshal(resp, &sar) != nil || !sar.Status.Allowed {
		return fmt.Sprintf("%s may not get nodes/metrics: %d %v %s", tr.Status.User.Username, code, err, resp)
	}
	return ""
}

// inClusterServerConfig is deploy/server's prometheus.yml (config) run here
// as in its pod: each Kubernetes discovery config authenticates with kubeconfig
// (the ServiceAccount's), the ServiceAccount's files are read from saDir,
// the server scrapes itself at self (when not empty), and each Kubernetes-discovered job
// first scrapes a target's pod IP where that is a loopback address (which
// Endpoints cannot hold) and the API server for default/kubernetes'
// documentation address.
func inClusterServerConfig(t *testing.T, config, kubeconfig, saDir, self, apiHost string) string {
	t.Helper()
	config = strings.ReplaceAll(config, "/var/run/secrets/kubernetes.io/serviceaccount", saDir)
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(config), &cfg); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	podIP := map[string]any{"source_labels": []any{"__meta_kubernetes_pod_ip", "__address__"},
		"regex": `(127\.[0-9.]+);.*:([0-9]+)`, "replacement": "$1:$2", "target_label": "__address__"}
	apiserver := map[string]any{"source_labels": []any{"__address__"},
		"regex": `192\.0\.2\.1:6443`, "replacement": apiHost, "target_label": "__address__"}
	jobs, _ := cfg["scrape_configs"].([]any)
	for _, j := range jobs {
		job := j.(map[string]any)
		for _, s := range asMaps(job["static_configs"]) {
			for i, tg := range wsStrings(s["targets"]) {
				if tg == "localhost:9090" && self != "" {
					s["targets"].([]any)[i] = self
				}
			}
		}
		sds := asMaps(job["kubernetes_sd_configs"])
		if len(sds) == 0 {
			continue
		}
		for _, sd := range sds {
			sd["kubeconfig_file"] = kubeconfig
		}
		rules, _ := job["relabel_configs"].([]any)
		job["relabel_configs"] = append([]any{podIP, apiserver}, rules...)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func asMaps(v any) []map[string]any {
	var out []map[string]any
	l, _ := v.([]any)
	for _, x := range l {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
