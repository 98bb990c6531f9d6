package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/panoptes-dev/panoptes/internal/testkit"
	"github.com/panoptes-dev/panoptes/internal/testkit/k8s"
	fakekubelet "github.com/panoptes-dev/panoptes/internal/testkit/kubelet"
)

// metricsCluster is a test's share of the control plane: nodes on loopback
// addresses whose kubelets are fake (or a real agent), and running pods.
type metricsCluster struct {
	env      *k8s.Env
	suffix   string
	ns       string
	selector string                       // the label selector of this test's nodes
	port     int                          // the kubelets' port on every address
	nodes    map[string]string            // node name -> IP
	kubelets *fakekubelet.Server          // the fake kubelets
	want     map[string]*fakekubelet.Node // node name -> what its kubelet reports
	caFile   string
}

// newMetricsCluster creates n nodes (4 CPUs, 8 GiB allocatable each) on
// 127.A.B.1..n, two running pods per node, and serves each node's
// /metrics/resource from fake kubelets over TLS (a test CA, the address in
// the SAN), except the nodes listed in real, left for the caller to serve.
func newMetricsCluster(t *testing.T, env *k8s.Env, n int, real ...int) *metricsCluster {
	t.Helper()
	suffix := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	base := fmt.Sprintf("127.%d.%d.", 100+os.Getpid()%100, time.Now().UnixNano()%250+1)
	c := &metricsCluster{env: env, suffix: suffix, ns: "mapi-" + suffix, selector: "panoptes-e2e=" + suffix,
		nodes: map[string]string{}, want: map[string]*fakekubelet.Node{}}
	env.Call(t, http.StatusCreated, "POST", "/api/v1/namespaces", "", map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": c.ns},
	})
	t.Cleanup(func() { _, _, _ = env.Do(context.Background(), "DELETE", "/api/v1/namespaces/"+c.ns, "", nil) })

	c.port = freeTCPPort(t)
	start := time.Now().Add(-time.Hour)
	fakes := map[string]*fakekubelet.Node{}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("mapi-%s-n%d", suffix, i)
		ip := base + strconv.Itoa(i)
		c.nodes[name] = ip
		capacity := map[string]any{"cpu": "4", "memory": "8Gi", "pods": "110"}
		env.Call(t, http.StatusCreated, "POST", "/api/v1/nodes", "", map[string]any{
			"apiVersion": "v1", "kind": "Node",
			"metadata": map[string]any{"name": name, "labels": map[string]any{"kubernetes.io/hostname": name, "panoptes-e2e": suffix}},
		})
		t.Cleanup(func() { _, _, _ = env.Do(context.Background(), "DELETE", "/api/v1/nodes/"+name, "", nil) })
		env.Call(t, http.StatusOK, "PATCH", "/api/v1/nodes/"+name+"/status", "application/merge-patch+json", map[string]any{
			"status": map[string]any{
				"capacity": capacity, "allocatable": capacity,
				"conditions":      []any{map[string]any{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "fake"}},
				"addresses":       []any{map[string]any{"type": "InternalIP", "address": ip}, map[string]any{"type": "Hostname", "address": name}},
				"daemonEndpoints": map[string]any{"kubeletEndpoint": map[string]any{"Port": c.port}},
			},
		})
		node := &fakekubelet.Node{MilliCPU: int64(100 * i), Memory: int64(i) << 30, Start: start}
		for j := 1; j <= 2; j++ {
			pod := fakekubelet.Pod{Namespace: c.ns, Name: fmt.Sprintf("web-%d-%d", i, j)}
			var containers []any
			for k := 1; k <= j; k++ {
				cn := fmt.Sprintf("c%d", k)
				pod.Containers = append(pod.Containers, fakekubelet.Container{Name: cn, MilliCPU: int64(10*i + 5*j + k), Memory: int64(16*i+4*j+k) << 20})
				containers = append(containers, map[string]any{"name": cn, "image": "busybox"})
			}
			node.Pods = append(node.Pods, pod)
			createRunningPod(t, env, c.ns, pod.Name, name, map[string]any{"app": "web", "node": strconv.Itoa(i)}, containers)
		}
		c.want[name] = node
		if !contains(real, i) {
			fakes[ip] = node
		}
	}
	var err error
	if c.kubelets, err = fakekubelet.New(fakes); err != nil {
		t.Fatal(err)
	}
	if err := c.kubelets.Listen(c.port); err != nil {
		testkit.Missing(t, "loopback addresses 127.x.y.z", fmt.Sprintf("the fake kubelets cannot listen on them: %v", err))
	}
	t.Cleanup(c.kubelets.Close)
	c.caFile = filepath.Join(t.TempDir(), "kubelet-ca.crt")
	if err := os.WriteFile(c.caFile, c.kubelets.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func createRunningPod(t *testing.T, env *k8s.Env, ns, name, node string, labels map[string]any, containers []any) {
	t.Helper()
	pods := "/api/v1/namespaces/" + ns + "/pods"
	env.Call(t, http.StatusCreated, "POST", pods, "", map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "labels": labels},
		"spec":     map[string]any{"nodeName": node, "containers": containers},
	})
	env.Call(t, http.StatusOK, "PATCH", pods+"/"+name+"/status", "application/merge-patch+json", map[string]any{
		"status": map[string]any{"phase": "Running"},
	})
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(freePort(t))
	port, _ := strconv.Atoi(p)
	return port
}

// startMetricsAPI runs `panoptes metrics-api` against the test cluster on a
// free loopback port and waits until it is ready; it returns the base URL.
func startMetricsAPI(t *testing.T, c *metricsCluster, args ...string) (*process, string) {
	t.Helper()
	port := freeTCPPort(t)
	full := append([]string{"metrics-api",
		"--kubeconfig=" + c.env.Kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + t.TempDir(),
		"--kubelet-certificate-authority=" + c.caFile,
		"--kubelet-use-node-status-port",
		"--kubelet-preferred-address-types=InternalIP",
		"--metric-resolution=10s", "--kubelet-request-timeout=5s",
		"--node-selector=" + c.selector,
	}, args...)
	p := start(t, panoptesBin, full...)
	base := "https://127.0.0.1:" + strconv.Itoa(port)
	waitReady(t, p, base+"/readyz", 90*time.Second)
	// The client CA of the aggregation layer is read from a ConfigMap in the
	// background: until it is, the admin's certificate is not recognised.
	admin := adminDirect(t, c.env)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := admin.Get(base + "/apis/metrics.k8s.io/v1beta1") //nolint:noctx // test poll
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admin is not let in at %s: %v", base, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return p, base
}

// waitReady polls a readiness URL (served to anyone) until it answers 200.
func waitReady(t *testing.T, p *process, url string, within time.Duration) {
	t.Helper()
	insecure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed test server
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("exited early:\n%s", p.logs.String())
		default:
		}
		resp, err := insecure.Get(url) //nolint:noctx // test poll
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s not ready within %s: %s", url, within, last)
}

// registerMetricsAPIService points v1beta1.metrics.k8s.io at a server on
// loopback (hack/k8s-testenv/register-apiservice.sh's recipe) and waits for
// the APIService to be Available.
func registerMetricsAPIService(t *testing.T, env *k8s.Env, port int) {
	t.Helper()
	registerAPIService(t, env, port, "metrics.k8s.io", "v1beta1")
}

// registerAPIService points VERSION.GROUP at a server on loopback and waits
// until it is Available.
func registerAPIService(t *testing.T, env *k8s.Env, port int, group, version string) {
	t.Helper()
	svc := "panoptes-" + strings.ReplaceAll(group, ".", "-") + "-e2e"
	name := version + "." + group
	apply(t, env, "/api/v1/namespaces/kube-system/services/"+svc, map[string]any{
		"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": svc, "namespace": "kube-system"},
		"spec": map[string]any{"type": "ExternalName", "externalName": "localhost",
			"ports": []any{map[string]any{"name": "https", "port": port, "protocol": "TCP"}}},
	})
	apply(t, env, "/apis/apiregistration.k8s.io/v1/apiservices/"+name, map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": map[string]any{"name": name},
		"spec": map[string]any{"group": group, "version": version, "groupPriorityMinimum": 100, "versionPriority": 100,
			"insecureSkipTLSVerify": true, "service": map[string]any{"name": svc, "namespace": "kube-system", "port": port}},
	})
	t.Cleanup(func() {
		ctx := context.Background()
		_, _, _ = env.Do(ctx, "DELETE", "/apis/apiregistration.k8s.io/v1/apiservices/"+name, "", nil)
		_, _, _ = env.Do(ctx, "DELETE", "/api/v1/namespaces/kube-system/services/"+svc, "", nil)
	})
	deadline := time.Now().Add(90 * time.Second)
	var last []byte
	for time.Now().Before(deadline) {
		last = env.Call(t, http.StatusOK, "GET", "/apis/apiregistration.k8s.io/v1/apiservices/"+name, "", nil)
		var as struct {
			Status struct {
				Conditions []struct{ Type, Status, Reason, Message string }
			}
		}
		_ = json.Unmarshal(last, &as)
		for _, cond := range as.Status.Conditions {
			if cond.Type == "Available" && cond.Status == "True" {
				return
			}
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("APIService %s not Available: %s", name, last)
}

// apply creates or updates an object by server-side apply.
func apply(t *testing.T, env *k8s.Env, path string, obj map[string]any) {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, resp, err := env.Do(ctx, "PATCH", path+"?fieldManager=e2e&force=true", "application/apply-patch+yaml", b)
	if err != nil || (code != http.StatusOK && code != http.StatusCreated) {
		t.Fatalf("apply %s: %d %v %s", path, code, err, resp)
	}
}

// kubectl runs the real kubectl against the test cluster.
func kubectl(t *testing.T, env *k8s.Env, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(k8s.Kubectl(t), append([]string{"--kubeconfig=" + env.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// topRows parses kubectl top's table into rows keyed by the first column
// (or the first two with -A).
func topRows(out string, keyCols int) (header []string, rows map[string][]string) {
	rows = map[string][]string{}
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if i == 0 {
			header = f
			continue
		}
		if len(f) < keyCols {
			continue
		}
		rows[strings.Join(f[:keyCols], "/")] = f[keyCols:]
	}
	return header, rows
}

// waitTop runs kubectl top until every key is in its table.
func waitTop(t *testing.T, env *k8s.Env, keyCols int, keys []string, args ...string) ([]string, map[string][]string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var out string
	for time.Now().Before(deadline) {
		var err error
		out, err = kubectl(t, env, args...)
		if err == nil {
			header, rows := topRows(out, keyCols)
			missing := 0
			for _, k := range keys {
				if _, ok := rows[k]; !ok {
					missing++
				}
			}
			if missing == 0 {
				return header, rows
			}
		}
		time.Sleep(2 * time.Second)
	}
	t.Fatalf("kubectl %s never listed %v:\n%s", strings.Join(args, " "), keys, out)
	return nil, nil
}

func mebi(b int64) string { return strconv.FormatInt(b>>20, 10) + "Mi" }

// TestMetricsAPIKubectlTop is the issue's end-to-end test: three nodes on
// loopback addresses, two served by fake kubelets with the pods created
// through the API and one by a real `panoptes agent --kubelet-address`;
// kubectl top nodes and kubectl top pods -A (the real kubectl, through the
// real kube-apiserver's aggregation layer) print the expected numbers, the
// APIService is Available, and users without RBAC are refused.
func TestMetricsAPIKubectlTop(t *testing.T) {
	env := k8s.Start(t)
	k8s.Kubectl(t)
	c := newMetricsCluster(t, env, 3, 3)

	// Node 3 is a real agent: its kubelet-shaped endpoint over TLS on the
	// node's address, with a certificate from the test CA.
	agentNode := fmt.Sprintf("mapi-%s-n3", c.suffix)
	certPEM, keyPEM, err := c.kubelets.IssuePEM(c.nodes[agentNode])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "agent.crt"), filepath.Join(dir, "agent.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	// metrics-api presents the admin's client certificate (signed by the
	// cluster CA), which the agent authorizes with a SubjectAccessReview;
	// the metrics port also serves /metrics/resource for panoptes top
	// --agent below.
	_, clusterCA := clusterOf(t, env)
	_, agentURL := startAgent(t, "--collector.disable-defaults", "--collector.container",
		"--kubelet-address="+net.JoinHostPort(c.nodes[agentNode], strconv.Itoa(c.port)),
		"--tls-cert-file="+certFile, "--tls-private-key-file="+keyFile,
		"--kubeconfig="+env.Kubeconfig, "--client-ca-file="+clusterCA, "--node-name="+agentNode,
		"--web.enable-kubelet-endpoints")

	// A node whose kubelet address nobody listens on.
	downNode := "mapi-" + c.suffix + "-down"
	n1IP := c.nodes[fmt.Sprintf("mapi-%s-n1", c.suffix)]
	env.Call(t, http.StatusCreated, "POST", "/api/v1/nodes", "", map[string]any{
		"apiVersion": "v1", "kind": "Node",
		"metadata": map[string]any{"name": downNode, "labels": map[string]any{"panoptes-e2e": c.suffix}},
	})
	t.Cleanup(func() { _, _, _ = env.Do(context.Background(), "DELETE", "/api/v1/nodes/"+downNode, "", nil) })
	env.Call(t, http.StatusOK, "PATCH", "/api/v1/nodes/"+downNode+"/status", "application/merge-patch+json", map[string]any{
		"status": map[string]any{
			"addresses":       []any{map[string]any{"type": "InternalIP", "address": n1IP[:strings.LastIndex(n1IP, ".")] + ".9"}},
			"daemonEndpoints": map[string]any{"kubeletEndpoint": map[string]any{"Port": c.port}},
		},
	})

	mapi, base := startMetricsAPI(t, c)
	port, _ := strconv.Atoi(base[strings.LastIndex(base, ":")+1:])
	registerMetricsAPIService(t, env, port)

	var nodeNames []string
	for name := range c.nodes {
		nodeNames = append(nodeNames, name)
	}
	header, rows := waitTop(t, env, 1, nodeNames, "top", "nodes", "-l", c.selector)
	if got := strings.Join(header, " "); got != "NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%)" {
		t.Errorf("kubectl top nodes header %q", got)
	}
	for name, node := range c.want {
		row := rows[name]
		if name == agentNode {
			// This host's real usage: some memory, a CPU figure.
			if len(row) != 4 || !strings.HasSuffix(row[0], "m") || row[2] == "0Mi" {
				t.Errorf("agent node %s: row %v, want real usage", name, row)
			}
			continue
		}
		want := []string{fmt.Sprintf("%dm", node.MilliCPU), fmt.Sprintf("%d%%", node.MilliCPU*100/4000),
			mebi(node.Memory), fmt.Sprintf("%d%%", node.Memory*100/(8<<30))}
		if strings.Join(row, " ") != strings.Join(want, " ") {
			t.Errorf("kubectl top nodes %s: %v, want %v", name, row, want)
		}
	}

	var podKeys []string
	wantPods := map[string][]string{}
	for name, node := range c.want {
		if name == agentNode {
			continue
		}
		for _, p := range node.Pods {
			var cpu, mem int64
			for _, ct := range p.Containers {
				cpu += ct.MilliCPU
				mem += ct.Memory
			}
			k := p.Namespace + "/" + p.Name
			podKeys = append(podKeys, k)
			wantPods[k] = []string{fmt.Sprintf("%dm", cpu), mebi(mem)}
		}
	}
	header, prows := waitTop(t, env, 2, podKeys, "top", "pods", "-A")
	if got := strings.Join(header, " "); got != "NAMESPACE NAME CPU(cores) MEMORY(bytes)" {
		t.Errorf("kubectl top pods -A header %q", got)
	}
	for k, want := range wantPods {
		if got := prows[k]; strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("kubectl top pods -A %s: %v, want %v", k, got, want)
		}
	}

	t.Run("panoptes top prints kubectl top's table", func(t *testing.T) {
		// The rows of the fake nodes and pods are constant: both tools
		// must print the same lines.
		same := func(kubectlArgs, panoptesArgs []string, keep func(line string) bool) {
			t.Helper()
			want, err := kubectl(t, env, kubectlArgs...)
			if err != nil {
				t.Fatalf("kubectl %v: %v\n%s", kubectlArgs, err, want)
			}
			got, err := exec.Command(panoptesBin, append(panoptesArgs, "--kubeconfig="+env.Kubeconfig)...).CombinedOutput()
			if err != nil {
				t.Fatalf("panoptes %v: %v\n%s", panoptesArgs, err, got)
			}
			filter := func(out string) string {
				var lines []string
				for i, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
					if i == 0 || keep(l) {
						lines = append(lines, l)
					}
				}
				return strings.Join(lines, "\n")
			}
			if filter(string(got)) != filter(want) {
				t.Errorf("panoptes %v printed:\n%s\nkubectl %v printed:\n%s", panoptesArgs, filter(string(got)), kubectlArgs, filter(want))
			}
		}
		fakeNode := func(l string) bool { return strings.HasPrefix(l, "mapi-"+c.suffix) && !strings.HasPrefix(l, agentNode) }
		same([]string{"top", "nodes", "-l", c.selector}, []string{"top", "nodes", "-l", c.selector}, fakeNode)
		same([]string{"top", "nodes", "-l", c.selector, "--show-capacity"}, []string{"top", "nodes", "-l", c.selector, "--show-capacity"}, fakeNode)
		ours := func(l string) bool { return strings.HasPrefix(l, c.ns) }
		same([]string{"top", "pods", "-A"}, []string{"top", "pods", "-A"}, ours)
		all := func(string) bool { return true }
		same([]string{"top", "pods", "-n", c.ns, "--sort-by=memory"}, []string{"top", "pods", "-n", c.ns, "--sort-by=memory"}, all)
		same([]string{"top", "pods", "-n", c.ns, "--containers", "-l", "node=2"}, []string{"top", "containers", "-n", c.ns, "-l", "node=2"}, all)

		// The agent on a host without the metrics API: this host's row,
		// with percentages of its machine_cpu_cores and memory.
		out, err := exec.Command(panoptesBin, "top", "nodes", "--agent="+agentURL, "--interval=500ms").CombinedOutput()
		if err != nil {
			t.Fatalf("panoptes top nodes --agent: %v\n%s", err, out)
		}
		host, _ := os.Hostname()
		_, rows := topRows(string(out), 1)
		if row := rows[host]; len(row) != 4 || !strings.HasSuffix(row[0], "m") || !strings.HasSuffix(row[1], "%") || !strings.HasSuffix(row[2], "Mi") || !strings.HasSuffix(row[3], "%") {
			t.Errorf("panoptes top nodes --agent: row of %s %v:\n%s", host, row, out)
		}
		if out, err := exec.Command(panoptesBin, "top", "pods", "--sort-by=name", "--kubeconfig="+env.Kubeconfig).CombinedOutput(); err == nil || !strings.Contains(string(out), "--sort-by") {
			t.Errorf("a bad --sort-by was not refused clearly: %v %s", err, out)
		}
	})

	t.Run("label and field selectors", func(t *testing.T) {
		out, err := kubectl(t, env, "top", "pods", "-n", c.ns, "-l", "node=1", "--containers")
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		_, rows := topRows(out, 2)
		if len(rows) != 3 || strings.Join(rows["web-1-2/c2"], " ") != "22m 26Mi" {
			t.Errorf("kubectl top pods -l node=1 --containers:\n%s", out)
		}
		b := env.Call(t, http.StatusOK, "GET", "/apis/metrics.k8s.io/v1beta1/namespaces/"+c.ns+"/pods?fieldSelector=metadata.name%3Dweb-2-1", "", nil)
		var list struct {
			Kind  string
			Items []struct {
				Metadata  struct{ Name string }
				Window    string
				Timestamp string
			}
		}
		if err := json.Unmarshal(b, &list); err != nil || list.Kind != "PodMetricsList" || len(list.Items) != 1 || list.Items[0].Metadata.Name != "web-2-1" || list.Items[0].Window == "" {
			t.Errorf("field selector list: %v %s", err, b)
		}
		n1 := fmt.Sprintf("mapi-%s-n1", c.suffix)
		b = env.Call(t, http.StatusOK, "GET", "/apis/metrics.k8s.io/v1beta1/nodes/"+n1, "", nil)
		var nm struct {
			Kind, APIVersion string
			Metadata         struct{ Name string }
			Usage            map[string]string
		}
		if err := json.Unmarshal(b, &nm); err != nil || nm.Kind != "NodeMetrics" || nm.APIVersion != "metrics.k8s.io/v1beta1" || nm.Usage["cpu"] != "100m" || nm.Usage["memory"] != "1Gi" {
			t.Errorf("GET nodes/%s: %v %s", n1, err, b)
		}
		env.Call(t, http.StatusNotFound, "GET", "/apis/metrics.k8s.io/v1beta1/nodes/no-such-node", "", nil)
		env.Call(t, http.StatusOK, "GET", "/openapi/v2", "", nil)
	})

	t.Run("scrape errors say why", func(t *testing.T) {
		resp, err := adminDirect(t, env).Get(base + "/metrics") //nolint:noctx // test
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		want := `panoptes_metricsapi_node_scrape_errors_total{node="` + downNode + `",reason="connection-refused"}`
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("/metrics: %d, want a line with %s:\n%.3000s", resp.StatusCode, want, b)
		}
		for _, m := range []string{"panoptes_metricsapi_collection_duration_seconds_count", "apiserver_request_total", "go_goroutines"} {
			if !strings.Contains(string(b), m) {
				t.Errorf("/metrics lacks %s", m)
			}
		}
		if logs := mapi.logs.String(); !strings.Contains(logs, "node="+downNode) || !strings.Contains(logs, "reason=connection-refused") || !strings.Contains(logs, "nothing listens on that port") {
			t.Errorf("the log does not say why %s cannot be scraped:\n%s", downNode, logs)
		}
	})

	t.Run("unauthorized users are refused", func(t *testing.T) {
		token := serviceAccountToken(t, env, c.ns, "nobody")
		ctx := context.Background()
		for _, target := range []struct{ what, url string }{
			{"through the aggregator", env.URL + "/apis/metrics.k8s.io/v1beta1/nodes"},
			{"at the metrics API itself", base + "/apis/metrics.k8s.io/v1beta1/nodes"},
		} {
			code, body := getWithToken(ctx, t, env, target.url, token)
			if code != http.StatusForbidden || !strings.Contains(body, "system:serviceaccount:"+c.ns+":nobody") {
				t.Errorf("%s: status %d, want 403 naming the service account: %s", target.what, code, body)
			}
		}
		if code, body := getWithToken(ctx, t, env, base+"/apis/metrics.k8s.io/v1beta1/nodes", ""); code != http.StatusForbidden && code != http.StatusUnauthorized {
			t.Errorf("anonymous at the metrics API: status %d: %s", code, body)
		}
	})
}

// serviceAccountToken creates a service account with no RBAC and returns a
// token for it.
func serviceAccountToken(t *testing.T, env *k8s.Env, ns, name string) string {
	t.Helper()
	sa := "/api/v1/namespaces/" + ns + "/serviceaccounts"
	env.Call(t, http.StatusCreated, "POST", sa, "", map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": name}})
	return env.ServiceAccountToken(t, ns, name)
}

func getWithToken(ctx context.Context, t *testing.T, env *k8s.Env, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := env.Anonymous
	if !strings.HasPrefix(url, env.URL) {
		client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed test server
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
