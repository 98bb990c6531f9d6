package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/panoptes-dev/panoptes/internal/testkit/k8s"
)

// badObjects creates objects with what controllers would rarely write:
// unknown enum values, huge label sets, missing optional fields.
func badObjects(t *testing.T, env *k8s.Env, ns string) {
	t.Helper()
	core := "/api/v1/namespaces/" + ns
	container := []any{map[string]any{"name": "app", "image": "busybox"}}
	env.Call(t, 201, "POST", core+"/pods", "", map[string]any{"metadata": map[string]any{"name": "weird"},
		"spec": map[string]any{"containers": container}})
	// The API server does not validate a pod's phase: an unknown one reaches us.
	env.Call(t, 200, "PATCH", core+"/pods/weird/status", "application/merge-patch+json", map[string]any{"status": map[string]any{
		"phase":      "Weird",
		"conditions": []any{map[string]any{"type": "Ready", "status": "Maybe"}},
		"containerStatuses": []any{map[string]any{"name": "app", "image": "busybox", "imageID": "", "ready": false, "restartCount": 0,
			"state": map[string]any{"waiting": map[string]any{"reason": "SomethingNew"}}}},
	}})
	labels := map[string]any{}
	for i := range 300 {
		labels[fmt.Sprintf("k%03d.example.com/label-%d", i, i)] = strings.Repeat("v", 60)
	}
	labels["app"] = "many"
	env.Call(t, 201, "POST", core+"/pods", "", map[string]any{"metadata": map[string]any{"name": "manylabels", "labels": labels},
		"spec": map[string]any{"containers": container}})
	// Missing optional fields: no status at all, no selector, no ports, no
	// minReplicas, percentages instead of counts.
	env.Call(t, 201, "POST", core+"/pods", "", map[string]any{"metadata": map[string]any{"name": "bare"}, "spec": map[string]any{"containers": container}})
	env.Call(t, 201, "POST", core+"/services", "", map[string]any{"metadata": map[string]any{"name": "headless"},
		"spec": map[string]any{"clusterIP": "None"}})
	env.Call(t, 201, "POST", "/apis/apps/v1/namespaces/"+ns+"/deployments", "", map[string]any{"metadata": map[string]any{"name": "bare"},
		"spec": map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "bare"}}, "template": podTemplate(map[string]any{"app": "bare"})}})
	env.Call(t, 201, "POST", "/apis/autoscaling/v2/namespaces/"+ns+"/horizontalpodautoscalers", "", map[string]any{"metadata": map[string]any{"name": "bare"},
		"spec": map[string]any{"scaleTargetRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "missing"}, "maxReplicas": 1}})
	env.Call(t, 201, "POST", "/apis/policy/v1/namespaces/"+ns+"/poddisruptionbudgets", "", map[string]any{"metadata": map[string]any{"name": "pct"},
		"spec": map[string]any{"maxUnavailable": "50%"}})
	env.Call(t, 201, "POST", "/apis/networking.k8s.io/v1/namespaces/"+ns+"/ingresses", "", map[string]any{"metadata": map[string]any{"name": "default-only"},
		"spec": map[string]any{"defaultBackend": map[string]any{"service": map[string]any{"name": "headless", "port": map[string]any{"name": "http"}}}}})
	env.Call(t, 201, "POST", "/apis/batch/v1/namespaces/"+ns+"/jobs", "", map[string]any{"metadata": map[string]any{"name": "bare"},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"restartPolicy": "Never", "containers": container}}}})
	env.Call(t, 201, "POST", core+"/resourcequotas", "", map[string]any{"metadata": map[string]any{"name": "empty"}, "spec": map[string]any{}})
}

// TestStateBadInput: bad objects and objects that come and go while the
// initial list runs give correct metrics or none, never a crash.
func TestStateBadInput(t *testing.T) {
	env := k8s.Start(t)
	sfx := uniqueSuffix()
	ns := "state-bad-" + sfx
	env.Call(t, 201, "POST", "/api/v1/namespaces", "", map[string]any{"metadata": map[string]any{"name": ns}})
	badObjects(t, env, ns)

	// Churn: configmaps created and deleted while panoptes state starts, so
	// that some are deleted between its list and its watch, and after, so
	// that its watch sees them come and go. Each worker counts its rounds
	// (a create and a delete), and the churn is measured in rounds, not in
	// time a loaded machine may spend on something else.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var rounds [4]atomic.Int64
	for w := range rounds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("churn-%d-%d", w, i)
				b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"name": name}})
				_, _, _ = env.Do(t.Context(), "POST", "/api/v1/namespaces/"+ns+"/configmaps", "", b)
				_, _, _ = env.Do(t.Context(), "DELETE", "/api/v1/namespaces/"+ns+"/configmaps/"+name, "", nil)
				rounds[w].Add(1)
			}
		}()
	}
	churned := func(from [4]int64, n int64) func() string {
		return func() string {
			for w := range rounds {
				if got := rounds[w].Load() - from[w]; got < n {
					return fmt.Sprintf("churn worker %d: %d rounds, want %d", w, got, n)
				}
			}
			return ""
		}
	}
	eventually(t, time.Minute, churned([4]int64{}, 1)) // churning before the start; only against a hang
	p, metrics, _ := startStateReady(t, "--kubeconfig="+env.Kubeconfig, "--resources="+strings.Join(stateResources, ","),
		"--metric-labels-allowlist=pods=[*]", "--namespaces="+ns+",default")
	var ready [4]int64
	for w := range rounds {
		ready[w] = rounds[w].Load()
	}
	eventually(t, time.Minute, churned(ready, 10)) // only against a hang
	close(stop)
	wg.Wait()
	var done [4]int64
	for w := range rounds {
		done[w] = rounds[w].Load()
	}
	t.Logf("churn rounds per worker: %v until ready, %v in all", ready, done)

	eventually(t, 60*time.Second, func() string {
		s := scrapeSeries(t, metrics)
		msg := checkWants(s, []want{
			// An unknown phase is none of the known ones.
			{"kube_pod_status_phase", map[string]string{"namespace": ns, "pod": "weird", "phase": "Running"}, 0},
			{"kube_pod_status_phase", map[string]string{"namespace": ns, "pod": "weird", "phase": "Pending"}, 0},
			{"kube_pod_container_status_waiting_reason", map[string]string{"namespace": ns, "pod": "weird", "reason": "SomethingNew"}, 1},
			{"kube_pod_labels", map[string]string{"namespace": ns, "pod": "manylabels", "label_app": "many", "label_k299_example_com_label_299": strings.Repeat("v", 60)}, 1},
			{"kube_pod_status_phase", map[string]string{"namespace": ns, "pod": "bare", "phase": "Pending"}, 1},
			{"kube_deployment_spec_replicas", map[string]string{"namespace": ns, "deployment": "bare"}, 1},
			{"kube_horizontalpodautoscaler_spec_min_replicas", map[string]string{"namespace": ns, "horizontalpodautoscaler": "bare"}, 1},
			{"kube_service_info", map[string]string{"namespace": ns, "service": "headless", "cluster_ip": "None"}, 1},
			{"kube_ingress_info", map[string]string{"namespace": ns, "ingress": "default-only"}, 1},
			{"kube_poddisruptionbudget_created", map[string]string{"namespace": ns, "poddisruptionbudget": "pct"}, 0},
		})
		if strings.Contains(msg, "kube_poddisruptionbudget_created") && !strings.Contains(msg, "missing") {
			msg = "" // created is a timestamp; present is what counts
		}
		for _, line := range s["kube_configmap_info"] {
			if strings.Contains(line, `configmap="churn-`) {
				msg += "\nchurned configmap left behind: " + line
			}
		}
		return strings.TrimSpace(msg)
	})
	select {
	case <-p.done:
		t.Fatalf("panoptes state exited:\n%s", p.logs.String())
	default:
	}
	if strings.Contains(p.logs.String(), "panic") {
		t.Errorf("panic in the logs:\n%s", p.logs.String())
	}
}

// tcpProxy forwards a loopback port to the API server; close and reopen
// make the API server go away and come back for whoever dials the proxy.
type tcpProxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]bool
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{addr: "127.0.0.1:0", target: target, conns: map[net.Conn]bool{}}
	p.open(t)
	p.addr = p.ln.Addr().String()
	t.Cleanup(p.close)
	return p
}

func (p *tcpProxy) open(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port was ours a moment ago; TIME_WAIT does not block a listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("proxy listen %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
}

func (p *tcpProxy) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// kubeconfigVia rewrites the admin kubeconfig to reach the API server at
// server instead.
func kubeconfigVia(t *testing.T, env *k8s.Env, server string) string {
	t.Helper()
	b, err := os.ReadFile(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(env.URL)) {
		t.Fatalf("admin kubeconfig does not name %s", env.URL)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, bytes.ReplaceAll(b, []byte(env.URL), []byte(server)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestStateAPIServerLoss: with the API server gone, the last known state is
// still served and the staleness gauge grows; when it is back, watching
// resumes, the gauge is 0 again and changes made meanwhile arrive.
func TestStateAPIServerLoss(t *testing.T) {
	env := k8s.Start(t)
	sfx := uniqueSuffix()
	ns := "state-loss-" + sfx
	env.Call(t, 201, "POST", "/api/v1/namespaces", "", map[string]any{"metadata": map[string]any{"name": ns}})
	env.Call(t, 201, "POST", "/api/v1/namespaces/"+ns+"/configmaps", "", map[string]any{"metadata": map[string]any{"name": "before"}})
	proxy := newTCPProxy(t, strings.TrimPrefix(env.URL, "https://"))
	_, metrics, telemetry := startStateReady(t, "--kubeconfig="+kubeconfigVia(t, env, "https://"+proxy.addr), "--resources=configmaps", "--namespaces="+ns)
	cm := func(name string) map[string]string { return map[string]string{"namespace": ns, "configmap": name} }
	self := func() series { return scrapeSeries(t, telemetry) }
	res := map[string]string{"resource": "configmaps"}

	eventually(t, 30*time.Second, func() string {
		return checkWants(scrapeSeries(t, metrics), []want{{"kube_configmap_info", cm("before"), 1}}) +
			checkWants(self(), []want{{"panoptes_state_watch_up", res, 1}, {"panoptes_state_staleness_seconds", res, 0}})
	})

	proxy.close()
	var first float64
	eventually(t, 60*time.Second, func() string {
		s := self()
		v, _ := s.find("panoptes_state_staleness_seconds", res)
		if up, _ := s.find("panoptes_state_watch_up", res); up != 0 || v < 1 {
			return fmt.Sprintf("after the API server went away: watch_up %v, staleness %v; want 0 and >= 1", up, v)
		}
		first = v
		return ""
	})
	env.Call(t, 201, "POST", "/api/v1/namespaces/"+ns+"/configmaps", "", map[string]any{"metadata": map[string]any{"name": "during"}})
	eventually(t, 30*time.Second, func() string {
		if v, _ := self().find("panoptes_state_staleness_seconds", res); v <= first {
			return fmt.Sprintf("staleness %v did not grow past %v", v, first)
		}
		return ""
	})
	// The last known state is still served.
	if msg := checkWants(scrapeSeries(t, metrics), []want{{"kube_configmap_info", cm("before"), 1}}); msg != "" {
		t.Fatalf("while the API server is away: %s", msg)
	}

	proxy.open(t)
	eventually(t, 90*time.Second, func() string {
		return checkWants(self(), []want{{"panoptes_state_watch_up", res, 1}, {"panoptes_state_staleness_seconds", res, 0}}) +
			checkWants(scrapeSeries(t, metrics), []want{{"kube_configmap_info", cm("during"), 1}, {"kube_configmap_info", cm("before"), 1}})
	})
}

// TestStateRBACForbidden: run as a ServiceAccount whose ClusterRole (deploy/
// state's, less secrets) does not grant secrets: secrets are disabled with
// one log line, the rest is served.
func TestStateRBACForbidden(t *testing.T) {
	env := k8s.Start(t)
	sfx := uniqueSuffix()
	ns := "state-rbac-" + sfx
	env.Call(t, 201, "POST", "/api/v1/namespaces", "", map[string]any{"metadata": map[string]any{"name": ns}})
	env.Call(t, 201, "POST", "/api/v1/namespaces/"+ns+"/configmaps", "", map[string]any{"metadata": map[string]any{"name": "visible"}})
	env.Call(t, 201, "POST", "/api/v1/namespaces/"+ns+"/serviceaccounts", "", map[string]any{"metadata": map[string]any{"name": "limited"}})

	b, err := os.ReadFile("../../deploy/state/clusterrole.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var role map[string]any
	if err := yaml.Unmarshal(b, &role); err != nil {
		t.Fatal(err)
	}
	dropped := false
	for _, r := range role["rules"].([]any) {
		rule := r.(map[string]any)
		var keep []any
		for _, res := range rule["resources"].([]any) {
			if res == "secrets" {
				dropped = true
				continue
			}
			keep = append(keep, res)
		}
		rule["resources"] = keep
	}
	if !dropped {
		t.Fatal("deploy/state's ClusterRole does not grant secrets")
	}
	roleName := "state-limited-" + sfx
	role["metadata"] = map[string]any{"name": roleName}
	env.Call(t, 201, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", "", role)
	env.Call(t, 201, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", "", map[string]any{
		"metadata": map[string]any{"name": roleName},
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": roleName},
		"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": "limited", "namespace": ns}},
	})
	t.Cleanup(func() {
		_, _, _ = env.Do(t.Context(), "DELETE", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/"+roleName, "", nil)
		_, _, _ = env.Do(t.Context(), "DELETE", "/apis/rbac.authorization.k8s.io/v1/clusterroles/"+roleName, "", nil)
	})

	p, metrics, telemetry := startStateReady(t, "--kubeconfig="+env.ServiceAccountKubeconfig(t, ns, "limited"), "--resources=configmaps,secrets,pods")
	eventually(t, 30*time.Second, func() string {
		return checkWants(scrapeSeries(t, metrics), []want{{"kube_configmap_info", map[string]string{"namespace": ns, "configmap": "visible"}, 1}}) +
			checkWants(scrapeSeries(t, telemetry), []want{
				{"panoptes_state_resource_enabled", map[string]string{"resource": "secrets", "reason": "forbidden"}, 0},
				{"panoptes_state_resource_enabled", map[string]string{"resource": "configmaps"}, 1},
				{"panoptes_state_resource_enabled", map[string]string{"resource": "pods"}, 1},
			})
	})
	var disabled []string
	for _, line := range strings.Split(p.logs.String(), "\n") {
		if strings.Contains(line, "resource disabled") || strings.Contains(strings.ToLower(line), "forbidden") {
			disabled = append(disabled, line)
		}
	}
	if len(disabled) != 1 || !strings.Contains(disabled[0], "resource=secrets") {
		t.Errorf("want exactly one log line about secrets being disabled, got %d:\n%s", len(disabled), strings.Join(disabled, "\n"))
	}
	resp, _ := get(t, metrics+"/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/metrics: %s", resp.Status)
	}
}
