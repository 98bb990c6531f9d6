package e2e

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/panoptes-dev/panoptes/internal/testkit"
	"github.com/panoptes-dev/panoptes/internal/testkit/k8s"
)

// kubeletAuthFixture is what the tests of the agent's kubelet endpoint
// share: a namespace with service accounts, the RBAC a metrics reader
// needs, and a CA for client and serving certificates.
type kubeletAuthFixture struct {
	env    *k8s.Env
	suffix string
	ns     string
	ca     *testkit.CA
	// agentKubeconfig is the agent's service account (system:auth-delegator
	// only), as the DaemonSet's.
	agentKubeconfig string
}

func newKubeletAuthFixture(t *testing.T) *kubeletAuthFixture {
	t.Helper()
	env := k8s.Start(t)
	f := &kubeletAuthFixture{env: env, suffix: strconv.FormatInt(time.Now().UnixNano()%1e9, 36), ca: testkit.NewCA(t, "kubelet-clients")}
	f.ns = "kauth-" + f.suffix
	env.Call(t, http.StatusCreated, "POST", "/api/v1/namespaces", "", map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": f.ns},
	})
	t.Cleanup(func() { _, _, _ = env.Do(context.Background(), "DELETE", "/api/v1/namespaces/"+f.ns, "", nil) })
	// The reader's role: what metrics-server's system:metrics-server
	// ClusterRole grants on the kubelet.
	role := "kauth-reader-" + f.suffix
	env.Call(t, http.StatusCreated, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", "", map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": map[string]any{"name": role},
		"rules": []any{
			map[string]any{"apiGroups": []any{""}, "resources": []any{"nodes/metrics", "nodes/stats"}, "verbs": []any{"get"}},
			map[string]any{"apiGroups": []any{""}, "resources": []any{"pods", "nodes"}, "verbs": []any{"get", "list", "watch"}},
		},
	})
	t.Cleanup(func() {
		_, _, _ = env.Do(context.Background(), "DELETE", "/apis/rbac.authorization.k8s.io/v1/clusterroles/"+role, "", nil)
	})
	f.bind(t, role, role, map[string]any{"kind": "ServiceAccount", "name": "reader", "namespace": f.ns},
		map[string]any{"kind": "ServiceAccount", "name": "metrics-server", "namespace": f.ns},
		map[string]any{"kind": "User", "name": "cert-reader-" + f.suffix, "apiGroup": "rbac.authorization.k8s.io"})
	f.bind(t, "kauth-agent-"+f.suffix, "system:auth-delegator", map[string]any{"kind": "ServiceAccount", "name": "agent", "namespace": f.ns})
	f.agentKubeconfig = f.tokenKubeconfig(t, f.token(t, "agent"))
	return f
}

// bind makes a ClusterRoleBinding of role to subjects.
func (f *kubeletAuthFixture) bind(t *testing.T, name, role string, subjects ...any) {
	t.Helper()
	f.env.Call(t, http.StatusCreated, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", "", map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": map[string]any{"name": name},
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
		"subjects": subjects,
	})
	t.Cleanup(func() {
		_, _, _ = f.env.Do(context.Background(), "DELETE", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/"+name, "", nil)
	})
}

// token creates the service account sa (unless made) and returns a token
// of it from the TokenRequest API.
func (f *kubeletAuthFixture) token(t *testing.T, sa string) string {
	t.Helper()
	f.env.Ensure(t, "/api/v1/namespaces/"+f.ns+"/serviceaccounts", map[string]any{
		"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": sa, "namespace": f.ns},
	})
	b := f.env.Call(t, http.StatusCreated, "POST", "/api/v1/namespaces/"+f.ns+"/serviceaccounts/"+sa+"/token", "", map[string]any{
		"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": map[string]any{"expirationSeconds": 3600},
	})
	var tr struct {
		Status struct{ Token string } `json:"status"`
	}
	if err := json.Unmarshal(b, &tr); err != nil || tr.Status.Token == "" {
		t.Fatalf("token of %s: %v %s", sa, err, b)
	}
	return tr.Status.Token
}

// tokenKubeconfig writes a kubeconfig for the test cluster with token as
// its credentials.
func (f *kubeletAuthFixture) tokenKubeconfig(t *testing.T, token string) string {
	t.Helper()
	server, caFile := clusterOf(t, f.env)
	kc := map[string]any{
		"apiVersion": "v1", "kind": "Config", "current-context": "sa",
		"clusters": []any{map[string]any{"name": "c", "cluster": map[string]any{"server": server, "certificate-authority": caFile}}},
		"contexts": []any{map[string]any{"name": "sa", "context": map[string]any{"cluster": "c", "user": "sa"}}},
		"users":    []any{map[string]any{"name": "sa", "user": map[string]any{"token": token}}},
	}
	b, err := yaml.Marshal(kc)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// clusterOf returns the test cluster's server URL and the file of its CA
// (which also signs the admin's client certificate in k8s-testenv).
func clusterOf(t *testing.T, env *k8s.Env) (server, caFile string) {
	t.Helper()
	b, err := os.ReadFile(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	var kc struct {
		Current  string `yaml:"current-context"`
		Contexts []struct {
			Name    string
			Context struct{ Cluster string }
		}
		Clusters []struct {
			Name    string
			Cluster struct {
				Server string
				CA     string `yaml:"certificate-authority"`
				CAData string `yaml:"certificate-authority-data"`
			}
		}
	}
	if err := yaml.Unmarshal(b, &kc); err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	cluster := ""
	for _, c := range kc.Contexts {
		if c.Name == kc.Current {
			cluster = c.Context.Cluster
		}
	}
	for _, c := range kc.Clusters {
		if c.Name != cluster {
			continue
		}
		ca := c.Cluster.CA
		if c.Cluster.CAData != "" {
			pemBytes, err := base64.StdEncoding.DecodeString(c.Cluster.CAData)
			if err != nil {
				t.Fatal(err)
			}
			ca = filepath.Join(t.TempDir(), "cluster-ca.crt")
			if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
				t.Fatal(err)
			}
		} else if !filepath.IsAbs(ca) {
			ca = filepath.Join(filepath.Dir(env.Kubeconfig), ca)
		}
		return c.Cluster.Server, ca
	}
	t.Fatalf("kubeconfig %s: no cluster for context %q", env.Kubeconfig, kc.Current)
	return "", ""
}

// startKubeletAgent runs `bin agent` with the container collector and its
// kubelet endpoint on 127.0.0.1 (a serving certificate from f.ca),
// authenticating through the agent's service account; it returns the
// agent's metrics URL and the kubelet endpoint's base URL.
func (f *kubeletAuthFixture) startKubeletAgent(t *testing.T, bin, node string, port int, args ...string) (metricsURL, kubeletURL string) {
	t.Helper()
	serving := f.ca.Issue(t, "agent-"+strconv.Itoa(port), false, "127.0.0.1")
	kubeletAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	_, metricsURL = startAgentBin(t, bin, append([]string{"--collector.disable-defaults", "--collector.container",
		"--kubelet-address=" + kubeletAddr, "--tls-cert-file=" + serving.CertFile, "--tls-private-key-file=" + serving.KeyFile,
		"--client-ca-file=" + f.ca.CertFile, "--kubeconfig=" + f.agentKubeconfig, "--node-name=" + node}, args...)...)
	// The kubelet endpoint listens beside the metrics port, not before it:
	// wait until it accepts, so that a first request is not refused.
	waitTCP(t, kubeletAddr)
	return metricsURL, "https://" + kubeletAddr
}

// kubeletGet requests path as a client with cert (may be nil) and token
// (may be empty), trusting f.ca for the serving certificate.
func (f *kubeletAuthFixture) kubeletGet(t *testing.T, url string, cert *tls.Certificate, token string) (int, []byte) {
	t.Helper()
	cfg := &tls.Config{RootCAs: f.ca.Pool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestKubeletEndpointAuth: the agent's kubelet endpoint authenticates and
// authorizes as the kubelet does, against the real API server, in both
// builds (the lean one's standard-library reviews, the full one's
// k8s.io/apiserver delegating authenticator and authorizer): anonymous
// clients and rejected tokens get 401; a service account or a client
// certificate user without nodes/metrics and nodes/stats gets 403; with
// them, 200. The metrics port serves neither endpoint by default.
func TestKubeletEndpointAuth(t *testing.T) {
	f := newKubeletAuthFixture(t)
	reader, stranger := f.token(t, "reader"), f.token(t, "stranger")
	certReader := f.ca.Issue(t, "cert-reader-"+f.suffix, true)
	certStranger := f.ca.Issue(t, "cert-stranger-"+f.suffix, true)
	for _, b := range []struct{ name, bin string }{{"lean", agentBin}, {"full", panoptesBin}} {
		t.Run(b.name, func(t *testing.T) {
			node := "kauth-" + f.suffix + "-" + b.name
			metricsURL, base := f.startKubeletAgent(t, b.bin, node, freeTCPPort(t))
			// RBAC was granted before the agent started; poll anyway for
			// the first answer (the endpoint's listener starts beside the
			// metrics port's).
			deadline := time.Now().Add(60 * time.Second)
			var code int
			var body []byte
			for {
				code, body = f.kubeletGet(t, base+"/metrics/resource", nil, reader)
				if code == http.StatusOK || time.Now().After(deadline) {
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
			if code != http.StatusOK || !strings.Contains(string(body), "node_cpu_usage_seconds_total") {
				t.Fatalf("reader's token: /metrics/resource %d %.300s", code, body)
			}
			for _, c := range []struct {
				what  string
				path  string
				cert  *tls.Certificate
				token string
				want  int
			}{
				{"anonymous", "/metrics/resource", nil, "", http.StatusUnauthorized},
				{"anonymous", "/stats/summary", nil, "", http.StatusUnauthorized},
				{"anonymous", "/healthz", nil, "", http.StatusUnauthorized},
				{"a token the API server rejects", "/metrics/resource", nil, "not-a-token", http.StatusUnauthorized},
				{"a service account without RBAC", "/metrics/resource", nil, stranger, http.StatusForbidden},
				{"a service account without RBAC", "/stats/summary", nil, stranger, http.StatusForbidden},
				{"the reader", "/stats/summary", nil, reader, http.StatusOK},
				{"the reader's certificate", "/metrics/resource", &certReader.Cert, "", http.StatusOK},
				{"the reader's certificate", "/stats/summary", &certReader.Cert, "", http.StatusOK},
				{"a certificate user without RBAC", "/metrics/resource", &certStranger.Cert, "", http.StatusForbidden},
				// nodes/healthz is not in the reader's role.
				{"the reader", "/healthz", nil, reader, http.StatusForbidden},
			} {
				if code, body := f.kubeletGet(t, base+c.path, c.cert, c.token); code != c.want {
					t.Errorf("%s: GET %s: %d, want %d: %.200s", c.what, c.path, code, c.want, body)
				}
			}
			code, body = f.kubeletGet(t, base+"/stats/summary", &certReader.Cert, "")
			if code == http.StatusOK && !strings.Contains(string(body), `"nodeName": "`+node+`"`) && !strings.Contains(string(body), `"nodeName":"`+node+`"`) {
				t.Errorf("/stats/summary names another node: %.300s", body)
			}
			for _, p := range []string{"/metrics/resource", "/stats/summary"} {
				if resp, _ := get(t, strings.TrimSuffix(metricsURL, "/metrics")+p); resp.StatusCode != http.StatusNotFound {
					t.Errorf("the metrics port serves %s by default: %d", p, resp.StatusCode)
				}
			}
		})
	}
}

// TestKubeletEndpointMetricsServer: metrics-server, unchanged, with a
// service account bound to the RBAC of its system:metrics-server
// ClusterRole, scrapes an agent's authenticated kubelet endpoint and serves
// the node's usage.
func TestKubeletEndpointMetricsServer(t *testing.T) {
	peer := cachedPeer(t, "metrics-server-v0.8.0/metrics-server")
	f := newKubeletAuthFixture(t)
	env := f.env
	node := "kauth-" + f.suffix + "-ms"
	port := freeTCPPort(t)
	env.Call(t, http.StatusCreated, "POST", "/api/v1/nodes", "", map[string]any{
		"apiVersion": "v1", "kind": "Node",
		"metadata": map[string]any{"name": node, "labels": map[string]any{"panoptes-kauth": f.suffix}},
	})
	t.Cleanup(func() { _, _, _ = env.Do(context.Background(), "DELETE", "/api/v1/nodes/"+node, "", nil) })
	capacity := map[string]any{"cpu": "4", "memory": "8Gi", "pods": "110"}
	env.Call(t, http.StatusOK, "PATCH", "/api/v1/nodes/"+node+"/status", "application/merge-patch+json", map[string]any{
		"status": map[string]any{
			"capacity": capacity, "allocatable": capacity,
			"conditions":      []any{map[string]any{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "agent"}},
			"addresses":       []any{map[string]any{"type": "InternalIP", "address": "127.0.0.1"}},
			"daemonEndpoints": map[string]any{"kubeletEndpoint": map[string]any{"Port": port}},
		},
	})
	f.startKubeletAgent(t, agentBin, node, port)

	msKubeconfig := f.tokenKubeconfig(t, f.token(t, "metrics-server"))
	msPort := freeTCPPort(t)
	ms := start(t, peer, "--kubeconfig="+msKubeconfig, "--authentication-kubeconfig="+env.Kubeconfig, "--authorization-kubeconfig="+env.Kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(msPort), "--cert-dir="+t.TempDir(),
		"--kubelet-certificate-authority="+f.ca.CertFile, "--kubelet-use-node-status-port", "--kubelet-preferred-address-types=InternalIP",
		"--metric-resolution=10s", "--kubelet-request-timeout=5s", "--node-selector=panoptes-kauth="+f.suffix)
	base := "https://127.0.0.1:" + strconv.Itoa(msPort)
	waitReady(t, ms, base+"/readyz", 90*time.Second)

	client := adminDirect(t, env)
	deadline := time.Now().Add(90 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := client.Get(base + "/apis/metrics.k8s.io/v1beta1/nodes/" + node) //nolint:noctx // test poll
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			last = strconv.Itoa(resp.StatusCode) + " " + string(b)
			var nm struct {
				Usage map[string]string `json:"usage"`
			}
			if resp.StatusCode == http.StatusOK && json.Unmarshal(b, &nm) == nil && nm.Usage["memory"] != "" && nm.Usage["memory"] != "0" {
				return
			}
		} else {
			last = err.Error()
		}
		time.Sleep(2 * time.Second)
	}
	t.Fatalf("metrics-server never served %s's usage from the agent: %s\nmetrics-server:\n%s", node, last, ms.logs.String())
}
