package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/panoptes-dev/panoptes/internal/testkit"
	"github.com/panoptes-dev/panoptes/internal/testkit/k8s"
)

// adminDirect is the admin's client (the cluster's client certificate) for
// talking to an aggregated server directly, whose certificate is
// self-signed.
func adminDirect(t *testing.T, env *k8s.Env) *http.Client {
	t.Helper()
	tr, ok := env.Client.Transport.(*http.Transport)
	if !ok {
		testkit.Missing(t, "the admin's client certificate", "the reused test cluster's admin uses a bearer token; direct calls need a client certificate (the k8s-testenv that testkit/k8s starts has one)")
	}
	tr = tr.Clone()
	tr.TLSClientConfig.InsecureSkipVerify = true
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// usage is one object's usage as an API served it: cpu in nanocores and
// memory in bytes per container ("" for a node).
type usage map[string][2]int64

// readMetrics lists node and pod metrics from one server and flattens them
// to name -> usage; shape collects the JSON keys of the first item of each,
// to compare the documents' shapes.
func readMetrics(t *testing.T, client *http.Client, base, nodeSelector, ns string) (map[string]usage, []string) {
	t.Helper()
	get := func(path string) map[string]any {
		resp, err := client.Get(base + path) //nolint:noctx // test
		if err != nil {
			t.Fatalf("GET %s%s: %v", base, path, err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s%s: %d %s", base, path, resp.StatusCode, b)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("GET %s%s: %v", base, path, err)
		}
		return m
	}
	q := func(v any) int64 {
		s, _ := v.(string)
		qty, err := resource.ParseQuantity(s)
		if err != nil {
			t.Fatalf("quantity %q: %v", s, err)
		}
		if strings.HasSuffix(s, "n") || strings.HasSuffix(s, "u") || strings.HasSuffix(s, "m") || !strings.ContainsAny(s, "KMGTPEi") {
			return qty.ScaledValue(resource.Nano)
		}
		return qty.Value()
	}
	out := map[string]usage{}
	var shape []string
	keys := func(prefix string, m map[string]any) {
		for k, v := range m {
			shape = append(shape, prefix+k)
			if sub, ok := v.(map[string]any); ok && (k == "metadata") {
				for sk := range sub {
					shape = append(shape, prefix+k+"."+sk)
				}
			}
		}
	}
	nodes := get("/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=" + nodeSelector)
	keys("NodeMetricsList.", map[string]any{"kind": nodes["kind"], "apiVersion": nodes["apiVersion"], "metadata": nil, "items": nil})
	for i, it := range nodes["items"].([]any) {
		m := it.(map[string]any)
		if i == 0 {
			keys("NodeMetrics.", m)
		}
		u := m["usage"].(map[string]any)
		name := m["metadata"].(map[string]any)["name"].(string)
		out["node/"+name] = usage{"": {q(u["cpu"]), q(u["memory"])}}
	}
	pods := get("/apis/metrics.k8s.io/v1beta1/namespaces/" + ns + "/pods")
	for i, it := range pods["items"].([]any) {
		m := it.(map[string]any)
		if i == 0 {
			keys("PodMetrics.", m)
		}
		name := m["metadata"].(map[string]any)["name"].(string)
		pu := usage{}
		for _, c := range m["containers"].([]any) {
			cm := c.(map[string]any)
			u := cm["usage"].(map[string]any)
			pu[cm["name"].(string)] = [2]int64{q(u["cpu"]), q(u["memory"])}
		}
		out["pod/"+name] = pu
	}
	sort.Strings(shape)
	return out, shape
}

// startMetricsServer runs metrics-server v0.8.0, the peer of `panoptes
// metrics-api`, with the same flags as startMetricsAPI (the cluster's
// nodes, kubelet CA, resolution) on a free loopback port, and returns it with
// its base URL once it is ready.
func startMetricsServer(t *testing.T, c *metricsCluster) (*process, string) {
	t.Helper()
	peer := cachedPeer(t, "metrics-server-v0.8.0/metrics-server")
	port := freeTCPPort(t)
	ms := start(t, peer, "--kubeconfig="+c.env.Kubeconfig, "--authentication-kubeconfig="+c.env.Kubeconfig, "--authorization-kubeconfig="+c.env.Kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(port), "--cert-dir="+t.TempDir(),
		"--kubelet-certificate-authority="+c.caFile, "--kubelet-use-node-status-port", "--kubelet-preferred-address-types=InternalIP",
		"--metric-resolution=10s", "--kubelet-request-timeout=5s", "--node-selector="+c.selector)
	base := "https://127.0.0.1:" + strconv.Itoa(port)
	waitReady(t, ms, base+"/readyz", 90*time.Second)
	return ms, base
}

// TestMetricsAPIMatchesMetricsServer points metrics-server v0.8.0 and
// panoptes metrics-api at the same fake kubelets and checks that both APIs
// return the same usage for every node and pod (CPU within 2 nanocores: the
// two scrape at different moments and metrics-server divides in floating
// point) and documents of the same shape.
func TestMetricsAPIMatchesMetricsServer(t *testing.T) {
	cachedPeer(t, "metrics-server-v0.8.0/metrics-server")
	env := k8s.Start(t)
	c := newMetricsCluster(t, env, 3)
	_, ours := startMetricsAPI(t, c)
	_, theirs := startMetricsServer(t, c)

	client := adminDirect(t, env)
	want := 3 + 6
	var a, b map[string]usage
	var shapeA, shapeB []string
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		a, shapeA = readMetrics(t, client, ours, c.selector, c.ns)
		b, shapeB = readMetrics(t, client, theirs, c.selector, c.ns)
		if len(a) == want && len(b) == want {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if len(a) != want || len(b) != want {
		t.Fatalf("objects served: panoptes %d, metrics-server %d, want %d each\npanoptes: %v\nmetrics-server: %v", len(a), len(b), want, a, b)
	}
	if strings.Join(shapeA, " ") != strings.Join(shapeB, " ") {
		t.Errorf("document shapes differ:\npanoptes:       %v\nmetrics-server: %v", shapeA, shapeB)
	}
	compared := 0
	for obj, ua := range a {
		ub, ok := b[obj]
		if !ok {
			t.Errorf("%s served by panoptes only", obj)
			continue
		}
		if len(ua) != len(ub) {
			t.Errorf("%s: containers %v vs metrics-server %v", obj, ua, ub)
			continue
		}
		for cn, va := range ua {
			vb := ub[cn]
			if d := va[0] - vb[0]; d > 2 || d < -2 || va[1] != vb[1] {
				t.Errorf("%s %s: panoptes cpu %dn memory %d, metrics-server cpu %dn memory %d", obj, cn, va[0], va[1], vb[0], vb[1])
			}
			compared++
		}
	}
	// The fake kubelets' figures, so that "the same" is also "right".
	n1 := fmt.Sprintf("node/mapi-%s-n1", c.suffix)
	if got := a[n1][""]; got[0] != 100e6 || got[1] != 1<<30 {
		t.Errorf("%s: %v, want 100m and 1Gi", n1, got)
	}
	if compared != 3+9 {
		t.Errorf("compared %d usages, want 12 (3 nodes, 9 containers)", compared)
	}
}

// TestMetricsAPISourceAgents finds the node's agents through the API
// (--source=agents: pods labelled as the agent DaemonSet's, on their pod
// IP) instead of the nodes' kubelet addresses.
func TestMetricsAPISourceAgents(t *testing.T) {
	env := k8s.Start(t)
	c := newMetricsCluster(t, env, 2)
	for name, ip := range c.nodes {
		agent := "agent-" + name[len(name)-2:]
		createRunningPod(t, env, c.ns, agent, name, map[string]any{"app.kubernetes.io/name": "panoptes-agent"}, []any{map[string]any{"name": "agent", "image": "panoptes"}})
		env.Call(t, http.StatusOK, "PATCH", "/api/v1/namespaces/"+c.ns+"/pods/"+agent+"/status", "application/merge-patch+json", map[string]any{
			"status": map[string]any{"podIP": ip, "podIPs": []any{map[string]any{"ip": ip}}},
		})
		// The agent's own address is not the node's: with the kubelet
		// source this node could not be scraped.
		env.Call(t, http.StatusOK, "PATCH", "/api/v1/nodes/"+name+"/status", "application/merge-patch+json", map[string]any{
			"status": map[string]any{"addresses": []any{map[string]any{"type": "InternalIP", "address": "127.0.0.254"}}},
		})
	}
	_, base := startMetricsAPI(t, c, "--source=agents", "--agent-namespace="+c.ns, "--agent-port="+strconv.Itoa(c.port))
	client := adminDirect(t, env)
	var got map[string]usage
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if got, _ = readMetrics(t, client, base, c.selector, c.ns); len(got) == 2+4 {
			break
		}
		time.Sleep(2 * time.Second)
	}
	for name, node := range c.want {
		if u := got["node/"+name][""]; u[0] != node.MilliCPU*1e6 || u[1] != node.Memory {
			t.Errorf("node %s through its agent: %v, want %dm and %d bytes", name, u, node.MilliCPU, node.Memory)
		}
	}
	if len(got) != 2+4 {
		t.Errorf("served %d objects, want 2 nodes and 4 pods: %v", len(got), got)
	}
}
