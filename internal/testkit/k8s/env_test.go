package k8s

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// call is Env.Call with the answer decoded as a JSON object.
func call(t *testing.T, env *Env, want int, method, path, contentType string, body any) map[string]any {
	t.Helper()
	resp := env.Call(t, want, method, path, contentType, body)
	var out map[string]any
	if err := json.Unmarshal(resp, &out); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, resp)
	}
	return out
}

// field walks a decoded JSON object along keys.
func field(obj map[string]any, keys ...string) any {
	var v any = obj
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// TestControlPlane is the smoke test of the environment: the objects the
// Kubernetes tests create (a Node, a Pod whose status is patched), RBAC, the
// service-account key, and the aggregation layer's configuration.
func TestControlPlane(t *testing.T) {
	env := Start(t)
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	ns, node := "smoke-"+suffix, "fake-node-"+suffix

	t.Run("version", func(t *testing.T) {
		v := call(t, env, http.StatusOK, "GET", "/version", "", nil)
		if v["gitVersion"] != "v1.37.2" && env.RunDir != "" {
			t.Errorf("gitVersion %v, want v1.37.2", v["gitVersion"])
		}
	})

	t.Run("node and pod", func(t *testing.T) {
		call(t, env, http.StatusCreated, "POST", "/api/v1/namespaces", "", map[string]any{
			"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns},
		})
		capacity := map[string]any{"cpu": "4", "memory": "8Gi", "pods": "110"}
		call(t, env, http.StatusCreated, "POST", "/api/v1/nodes", "", map[string]any{
			"apiVersion": "v1", "kind": "Node",
			"metadata": map[string]any{"name": node, "labels": map[string]any{"kubernetes.io/hostname": node}},
			"status":   map[string]any{"capacity": capacity, "allocatable": capacity},
		})
		t.Cleanup(func() {
			call(t, env, http.StatusOK, "DELETE", "/api/v1/nodes/"+node, "", nil)
		})
		call(t, env, http.StatusOK, "PATCH", "/api/v1/nodes/"+node+"/status", "application/merge-patch+json", map[string]any{
			"status": map[string]any{
				"conditions": []any{map[string]any{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "fake"}},
				"addresses":  []any{map[string]any{"type": "InternalIP", "address": "127.0.0.1"}},
			},
		})
		n := call(t, env, http.StatusOK, "GET", "/api/v1/nodes/"+node, "", nil)
		if got := field(n, "status", "capacity", "cpu"); got != "4" {
			t.Errorf("node capacity cpu %v, want 4 (kept as created)", got)
		}
		if conds, _ := field(n, "status", "conditions").([]any); len(conds) != 1 || field(conds[0].(map[string]any), "status") != "True" {
			t.Errorf("node conditions %v, want Ready=True", conds)
		}

		pods := "/api/v1/namespaces/" + ns + "/pods"
		call(t, env, http.StatusCreated, "POST", pods, "", map[string]any{
			"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{"name": "web-1", "labels": map[string]any{"app": "web"}},
			"spec": map[string]any{
				"nodeName":   node, // no scheduler
				"containers": []any{map[string]any{"name": "nginx", "image": "nginx:1.27"}},
			},
		})
		p := call(t, env, http.StatusOK, "GET", pods+"/web-1", "", nil)
		if got := field(p, "status", "phase"); got != "Pending" {
			t.Errorf("new pod phase %v, want Pending", got)
		}
		call(t, env, http.StatusOK, "PATCH", pods+"/web-1/status", "application/merge-patch+json", map[string]any{
			"status": map[string]any{
				"phase": "Running",
				"containerStatuses": []any{map[string]any{
					"name": "nginx", "image": "nginx:1.27", "imageID": "", "ready": true, "restartCount": 2, "started": true,
					"state": map[string]any{"running": map[string]any{"startedAt": "2026-01-01T00:00:00Z"}},
				}},
			},
		})
		p = call(t, env, http.StatusOK, "GET", pods+"/web-1", "", nil)
		if got := field(p, "status", "phase"); got != "Running" {
			t.Errorf("patched pod phase %v, want Running", got)
		}
		cs, _ := field(p, "status", "containerStatuses").([]any)
		if len(cs) != 1 || field(cs[0].(map[string]any), "restartCount") != float64(2) {
			t.Errorf("patched container statuses %v, want one with restartCount 2", cs)
		}
		if got := field(p, "spec", "nodeName"); got != node {
			t.Errorf("pod nodeName %v, want %s", got, node)
		}
	})

	t.Run("rbac", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// No credentials: system:anonymous, which RBAC gives no pods.
		code, body, err := do(ctx, env.Anonymous, "GET", env.URL+"/api/v1/namespaces/default/pods", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusForbidden && code != http.StatusUnauthorized {
			t.Errorf("anonymous list pods: status %d, want 403 or 401: %s", code, body)
		}
		// A bearer token the server does not know.
		bad := &http.Client{Transport: bearer{token: "not-a-token", next: env.Anonymous.Transport}}
		if code, body, err = do(ctx, bad, "GET", env.URL+"/api/v1/namespaces/default/pods", "", nil); err != nil {
			t.Fatal(err)
		} else if code != http.StatusUnauthorized {
			t.Errorf("unknown token: status %d, want 401: %s", code, body)
		}
		// An authenticated ServiceAccount with no bindings: a token from the
		// TokenRequest API (signed with up.sh's service-account key), denied by RBAC.
		sa := "/api/v1/namespaces/" + ns + "/serviceaccounts"
		call(t, env, http.StatusCreated, "POST", sa, "", map[string]any{
			"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "nobody"},
		})
		tr := call(t, env, http.StatusCreated, "POST", sa+"/nobody/token", "", map[string]any{
			"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
			"spec": map[string]any{"expirationSeconds": 600},
		})
		token, _ := field(tr, "status", "token").(string)
		if token == "" {
			t.Fatalf("TokenRequest returned no token: %v", tr)
		}
		saClient := &http.Client{Transport: bearer{token: token, next: env.Anonymous.Transport}}
		code, body, err = do(ctx, saClient, "GET", env.URL+"/api/v1/namespaces/"+ns+"/pods", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusForbidden || !strings.Contains(string(body), "system:serviceaccount:"+ns+":nobody") {
			t.Errorf("service account list pods: status %d, want 403 naming the service account: %s", code, body)
		}
	})

	t.Run("aggregation", func(t *testing.T) {
		groups := call(t, env, http.StatusOK, "GET", "/apis", "", nil)
		list, _ := groups["groups"].([]any)
		found := false
		for _, g := range list {
			if m, ok := g.(map[string]any); ok && m["name"] == "apiregistration.k8s.io" {
				found = true
			}
		}
		if !found {
			t.Errorf("/apis lacks apiregistration.k8s.io: %v", groups)
		}
		cm := call(t, env, http.StatusOK, "GET", "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication", "", nil)
		for _, k := range []string{"client-ca-file", "requestheader-client-ca-file", "requestheader-allowed-names", "requestheader-username-headers"} {
			if v, _ := field(cm, "data", k).(string); v == "" {
				t.Errorf("extension-apiserver-authentication lacks %s", k)
			}
		}
		if v, _ := field(cm, "data", "requestheader-allowed-names").(string); !strings.Contains(v, "front-proxy-client") {
			t.Errorf("requestheader-allowed-names %q, want front-proxy-client", v)
		}
	})
}

// TestControllerManager starts the kube-controller-manager that build.sh
// builds from the apiserver's Kubernetes version, with the Deployment and
// ReplicaSet controllers: a Deployment gets a ReplicaSet, and that its pods.
func TestControllerManager(t *testing.T) {
	env := Start(t)
	out, err := exec.Command(ControllerManager(t), "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("kube-controller-manager --version: %v: %s", err, out)
	}
	v := call(t, env, http.StatusOK, "GET", "/version", "", nil)
	if got := strings.TrimSpace(string(out)); got != "Kubernetes "+fmt.Sprint(v["gitVersion"]) && env.RunDir != "" {
		t.Errorf("kube-controller-manager --version says %q, the apiserver %v", got, v["gitVersion"])
	}
	env.StartControllerManager(t, HPAControllers, HPAFlags...)

	ns := fmt.Sprintf("kcm-%d", time.Now().UnixNano())
	call(t, env, http.StatusCreated, "POST", "/api/v1/namespaces", "", map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns},
	})
	labels := map[string]any{"app": "smoke"}
	call(t, env, http.StatusCreated, "POST", "/apis/apps/v1/namespaces/"+ns+"/deployments", "", map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "smoke"},
		"spec": map[string]any{"replicas": 2, "selector": map[string]any{"matchLabels": labels},
			"template": map[string]any{"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{"containers": []any{map[string]any{"name": "c", "image": "busybox"}}}}},
	})
	deadline := time.Now().Add(60 * time.Second)
	var pods map[string]any
	for time.Now().Before(deadline) {
		pods = call(t, env, http.StatusOK, "GET", "/api/v1/namespaces/"+ns+"/pods", "", nil)
		if items, _ := pods["items"].([]any); len(items) == 2 {
			for _, it := range items {
				owner, _ := field(it.(map[string]any), "metadata", "ownerReferences").([]any)
				if len(owner) != 1 || field(owner[0].(map[string]any), "kind") != "ReplicaSet" {
					t.Errorf("pod %v: owners %v, want its ReplicaSet", field(it.(map[string]any), "metadata", "name"), owner)
				}
			}
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("the Deployment never got 2 pods: %v", pods)
}
