package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/panoptes-dev/panoptes/internal/testkit"
	"github.com/panoptes-dev/panoptes/internal/testkit/cgroup"
	"github.com/panoptes-dev/panoptes/internal/testkit/k8s"
)

// The whole stack on the test cluster (issue 15, part 5). Every role runs
// as deploy/ describes it, read from the manifests at test time (`kubectl
// kustomize` of deploy/crds, deploy/metrics-api-agents — which holds
// deploy/agent and deploy/metrics-api —, deploy/server and deploy/state):
// the same container arguments, the same prometheus.yml, each role
// authenticated as its own ServiceAccount with the RBAC the manifests
// grant, all applied to the real kube-apiserver. There are no kubelets or
// controllers: the test plays them, creating each role's pod from its
// workload's template and running the container's arguments as a process
// on this host.
//
// What exists only inside a pod or on a node is substituted, each visibly
// (the replacements given to wsSubstitute, and the server's config
// edits of inClusterServerConfig):
//
//   - listen addresses: every role listens on loopback, on a free port,
//     where the pod listens on :PORT (the agents on their node's own
//     127.x.y.n address, the pod IP of a hostNetwork pod);
//   - the in-cluster ServiceAccount: a kubeconfig with the ServiceAccount's
//     token (--kubeconfig, --rules.kubernetes.kubeconfig,
//     --kubernetes.monitors.kubeconfig, kubeconfig_file in the discovery
//     configs), and its token and ca.crt files where prometheus.yml reads
//     /var/run/secrets/kubernetes.io/serviceaccount;
//   - host paths: the agents read this host's /proc, /sys and / (the
//     DaemonSet's /host/proc, /host/sys, /host/root mounts), and the
//     container runtime's socket is a CRI runtime the test serves per node
//     (--container-runtime-endpoint: there is no containerd), which names
//     the pods' containers, real cgroups holding a process each; the
//     agents run as this test's user (root), where the DaemonSet's nobody
//     without supplementalGroups could not open a runtime's socket and
//     would report containers without namespace, pod or image;
//   - mounted files: the agent CA Secret and ConfigMap, the serving
//     certificate's emptyDir, the metrics API's --cert-dir;
//   - Endpoints addresses: the API refuses loopback addresses in Endpoints,
//     so the agents' and the state exporter's Endpoints hold documentation
//     addresses (RFC 5737) with a targetRef to the pod, and one relabelling
//     rule put first in each Kubernetes-discovered job scrapes the pod's IP
//     instead; default/kubernetes is mapped onto the API server likewise;
//   - the metrics API's APIService points at an ExternalName Service to
//     localhost (registerMetricsAPIService), not at a ClusterIP.
//
// Nothing else is changed: scrape and evaluation intervals stay the
// shipped 15 s, the metrics API's resolution its 15 s, the built-in rules'
// "for" their own. Added, as a user of kube-prometheus' dashboards does:
// --web.dashboards-dir with the four dashboards (a ConfigMap mounted there
// in a cluster), and kubernetes-mixin's recording rules, which the
// dashboards read and Panoptes does not build in, as a PrometheusRule
// (testdata/rules/k8s.yaml, written in kube-prometheus' style).

// wsDashboardsDir holds the Grafana dashboards, kube-prometheus' "Kubernetes
// / Compute Resources" in style, written here.
var wsDashboardsDir = filepath.Join("testdata", "wholestack")

// wsNoData lists, per dashboard uid, the panels that have no data on the
// test cluster and why; every other panel must have data, and a listed
// panel that has data fails the test too, so the list stays true (the
// README's table is made from it).
var wsNoData = map[string]map[string]string{
	"ws-k8s-resources-cluster": {
		"IOPS (Reads+Writes)":     wsNoBlockIO,
		"Throughput (Read+Write)": wsNoBlockIO,
	},
	"ws-k8s-resources-namespace": {
		"IOPS (Reads+Writes)":     wsNoBlockIO,
		"Throughput (Read+Write)": wsNoBlockIO,
	},
	"ws-k8s-resources-pod": {
		"IOPS (Pod)":         wsNoBlockIO,
		"Throughput (Pod)":   wsNoBlockIO,
		"Current Storage IO": wsNoBlockIO,
	},
	"ws-k8s-resources-node": {},
}

// wsNoBlockIO is why the storage panels are empty.
const wsNoBlockIO = "container_fs_{reads,writes}{,_bytes}_total come from the cgroup's block I/O counters, which have no device line until a container reads or writes a block device: the test's containers do no block I/O"

// wsObject is a manifest's object, as kubectl kustomize renders it.
type wsObject map[string]any

func (o wsObject) str(path ...string) string {
	var v any = map[string]any(o)
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

func (o wsObject) kind() string      { return o.str("kind") }
func (o wsObject) name() string      { return o.str("metadata", "name") }
func (o wsObject) namespace() string { return o.str("metadata", "namespace") }

// template is a workload's pod template.
func (o wsObject) template(t *testing.T) map[string]any {
	t.Helper()
	spec, _ := o["spec"].(map[string]any)
	tmpl, _ := spec["template"].(map[string]any)
	if tmpl == nil {
		t.Fatalf("%s %s has no pod template", o.kind(), o.name())
	}
	return tmpl
}

// container is the workload's one container (its args, env, resources).
func (o wsObject) container(t *testing.T) map[string]any {
	t.Helper()
	spec, _ := o.template(t)["spec"].(map[string]any)
	cs, _ := spec["containers"].([]any)
	if len(cs) != 1 {
		t.Fatalf("%s %s: %d containers, want 1", o.kind(), o.name(), len(cs))
	}
	c, _ := cs[0].(map[string]any)
	return c
}

func (o wsObject) args(t *testing.T) []string {
	t.Helper()
	return wsStrings(o.container(t)["args"])
}

func wsStrings(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// serviceAccount is the namespace and name the workload's pods run as.
func (o wsObject) serviceAccount(t *testing.T) (string, string) {
	t.Helper()
	spec, _ := o.template(t)["spec"].(map[string]any)
	sa, _ := spec["serviceAccountName"].(string)
	if sa == "" || o.namespace() == "" {
		t.Fatalf("%s %s: no serviceAccountName or namespace", o.kind(), o.name())
	}
	return o.namespace(), sa
}

// memoryLimitEnv is GOMEMLIMIT as the container's env gives it: the
// resourceFieldRef of limits.memory, in bytes.
func (o wsObject) memoryLimitEnv(t *testing.T) []string {
	t.Helper()
	c := o.container(t)
	res, _ := c["resources"].(map[string]any)
	limits, _ := res["limits"].(map[string]any)
	for _, e := range asMaps(c["env"]) {
		e := wsObject(e)
		if e.str("name") != "GOMEMLIMIT" || e.str("valueFrom", "resourceFieldRef", "resource") != "limits.memory" {
			continue
		}
		s, _ := limits["memory"].(string)
		q, err := resource.ParseQuantity(s)
		if err != nil {
			t.Fatalf("%s %s: memory limit %q: %v", o.kind(), o.name(), s, err)
		}
		return []string{"GOMEMLIMIT=" + strconv.FormatInt(q.Value(), 10)}
	}
	return nil
}

// wsManifests renders the roles' kustomizations (from a copy of deploy/,
// where the agents' CA is made by the recipe of
// deploy/metrics-api-agents/kustomization.yaml) and applies them to the
// cluster, but the APIService (registerMetricsAPIService points it at
// loopback). It returns the objects and the copy's agent CA directory.
func wsManifests(t *testing.T, env *k8s.Env, openssl string) ([]wsObject, string) {
	t.Helper()
	deployDir, overlay := agentsOverlay(t, openssl)
	env.Ensure(t, "/api/v1/namespaces", map[string]any{"metadata": map[string]any{"name": "monitoring"}})

	var objs []wsObject
	var apply bytes.Buffer
	for _, role := range []string{"crds", "metrics-api-agents", "server", "state"} {
		out, err := kubectl(t, env, "kustomize", filepath.Join(deployDir, role))
		if err != nil {
			t.Fatalf("kubectl kustomize deploy/%s: %v\n%s", role, err, out)
		}
		dec := yaml.NewDecoder(strings.NewReader(out))
		for {
			var o map[string]any
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("deploy/%s: %v", role, err)
			}
			obj := wsObject(o)
			objs = append(objs, obj)
			if obj.kind() == "APIService" {
				continue
			}
			b, err := yaml.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			apply.WriteString("---\n")
			apply.Write(b)
		}
	}
	cmd := exec.Command(k8s.Kubectl(t), "--kubeconfig="+env.Kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", "-")
	cmd.Stdin = &apply
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply the manifests: %v\n%s", err, out)
	}
	// The custom resources are served a moment after their CRDs.
	eventually(t, time.Minute, func() string {
		code, body, err := env.Do(t.Context(), http.MethodGet, "/apis/monitoring.coreos.com/v1/prometheusrules", "", nil)
		if err != nil || code != http.StatusOK {
			return fmt.Sprintf("the PrometheusRule CRD is not served: %d %v %s", code, err, body)
		}
		return ""
	})
	return objs, overlay
}

// wsFind returns the one object of kind whose name starts with name.
func wsFind(t *testing.T, objs []wsObject, kind, name string) wsObject {
	t.Helper()
	var found []wsObject
	for _, o := range objs {
		if o.kind() == kind && strings.HasPrefix(o.name(), name) {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("the manifests have %d %s objects named %s*, want 1", len(found), kind, name)
	}
	return found[0]
}

// wsSubstitute rewrites a container's args: the replacer's pairs, each a
// path, address or port that only exists in the pod.
func wsSubstitute(args []string, pairs ...string) []string {
	r := strings.NewReplacer(pairs...)
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = r.Replace(a)
	}
	return out
}

// wsPod creates a workload's pod from its template, as its controller
// would, on node, owned by owner (kind, name, uid; none when kind is
// empty), and marks it running with podIP, as its kubelet would.
func wsPod(t *testing.T, env *k8s.Env, w wsObject, name, node, podIP string, owner ...string) {
	t.Helper()
	tmpl := w.template(t)
	b, err := json.Marshal(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	var pod map[string]any
	if err := json.Unmarshal(b, &pod); err != nil {
		t.Fatal(err)
	}
	meta, _ := pod["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	meta["name"] = name
	if len(owner) == 3 {
		meta["ownerReferences"] = []any{map[string]any{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "uid": owner[2], "controller": true}}
	}
	pod["metadata"] = meta
	pod["apiVersion"], pod["kind"] = "v1", "Pod"
	pod["spec"].(map[string]any)["nodeName"] = node
	path := "/api/v1/namespaces/" + w.namespace() + "/pods"
	env.Call(t, http.StatusCreated, "POST", path, "", pod)
	t.Cleanup(func() { _, _, _ = env.Do(context.Background(), "DELETE", path+"/"+name, "", nil) })
	env.Call(t, http.StatusOK, "PATCH", path+"/"+name+"/status", "application/merge-patch+json", map[string]any{
		"status": map[string]any{"phase": "Running", "podIP": podIP, "podIPs": []any{map[string]any{"ip": podIP}},
			"startTime":  time.Now().UTC().Format(time.RFC3339),
			"conditions": []any{map[string]any{"type": "Ready", "status": "True"}}},
	})
}

// wsEndpoints writes the Endpoints of a manifest's Service: one address per
// pod, each a documentation address with a targetRef to the pod (the API
// refuses the pods' loopback IPs), and ports by name.
func wsEndpoints(t *testing.T, env *k8s.Env, ns, service string, pods []string, ports map[string]int) {
	t.Helper()
	var addrs, ps []any
	for i, p := range pods {
		addrs = append(addrs, map[string]any{"ip": fmt.Sprintf("192.0.2.%d", 100+i),
			"targetRef": map[string]any{"kind": "Pod", "name": p, "namespace": ns}})
	}
	for n, p := range ports {
		ps = append(ps, map[string]any{"name": n, "port": p})
	}
	apply(t, env, "/api/v1/namespaces/"+ns+"/endpoints/"+service, map[string]any{
		"apiVersion": "v1", "kind": "Endpoints", "metadata": map[string]any{"name": service, "namespace": ns},
		"subsets": []any{map[string]any{"addresses": addrs, "ports": ps}},
	})
}

// TestWholeStack: two nodes backed by real agents, `panoptes state`, the
// metrics API and the server with the built-in rules, as deploy/ runs them
// (see the comment at the top of this file), against the real API server.
// kubectl top answers through the metrics API; a pod made to crash-loop
// fires the built-in PanoptesKubeContainerRestartingOften (and puts
// PanoptesKubePodCrashLooping, whose "for" is 15 minutes, in pending); and
// the four "Kubernetes / Compute Resources" dashboards, imported from
// Grafana JSON, have data in every panel but those wsNoData lists.
func TestWholeStack(t *testing.T) {
	cgroup.RequireRoot(t)
	env := k8s.Start(t)
	k8s.Kubectl(t)
	openssl := requirePeer(t, "openssl")
	objs, caDir := wsManifests(t, env, openssl)
	agentDS := wsFind(t, objs, "DaemonSet", "panoptes-agent")
	mapiDep := wsFind(t, objs, "Deployment", "panoptes-metrics-api")
	serverSTS := wsFind(t, objs, "StatefulSet", "panoptes-server")
	stateDep := wsFind(t, objs, "Deployment", "panoptes-state")
	serverCM := wsFind(t, objs, "ConfigMap", "panoptes-server-config")

	// Two nodes on 127.A.B.1 and .2; their kubelet port is where the
	// agents serve their kubelet-shaped endpoint.
	c := newMetricsCluster(t, env, 2, 1, 2)
	nodes := make([]string, 0, len(c.nodes))
	for n := range c.nodes {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)

	// The workload: a Deployment's two pods, one per node, each container
	// a real cgroup with a process, named by its node's runtime; and a pod
	// that will crash-loop.
	post := func(path string, obj map[string]any) string {
		var out struct {
			Metadata struct{ UID string } `json:"metadata"`
		}
		if err := json.Unmarshal(env.Call(t, http.StatusCreated, "POST", path, "", obj), &out); err != nil {
			t.Fatal(err)
		}
		return out.Metadata.UID
	}
	status := func(path string, st map[string]any) {
		env.Call(t, http.StatusOK, "PATCH", path+"/status", "application/merge-patch+json", map[string]any{"status": st})
	}
	core, apps := "/api/v1/namespaces/"+c.ns, "/apis/apps/v1/namespaces/"+c.ns
	app := map[string]any{"name": "app", "image": "registry.example/shop:1.0",
		"resources": map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "32Mi"}, "limits": map[string]any{"cpu": "500m", "memory": "128Mi"}}}
	tmpl := map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "shop"}}, "spec": map[string]any{"containers": []any{app}}}
	sel := map[string]any{"matchLabels": map[string]any{"app": "shop"}}
	depUID := post(apps+"/deployments", map[string]any{"metadata": map[string]any{"name": "shop"}, "spec": map[string]any{"replicas": 2, "selector": sel, "template": tmpl}})
	status(apps+"/deployments/shop", map[string]any{"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2})
	rsUID := post(apps+"/replicasets", map[string]any{
		"metadata": map[string]any{"name": "shop-6c9d4", "ownerReferences": []any{map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop", "uid": depUID, "controller": true}}},
		"spec":     map[string]any{"replicas": 2, "selector": sel, "template": tmpl}})
	status(apps+"/replicasets/shop-6c9d4", map[string]any{"observedGeneration": 1, "replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 2})
	runtimes := map[string]*kpRuntime{}
	var shopPods []string
	for i, node := range nodes {
		runtimes[node] = &kpRuntime{}
		pod := fmt.Sprintf("shop-6c9d4-%c%s", 'a'+i, c.suffix)
		shopPods = append(shopPods, pod)
		cid := randomHex(t, 32)
		uid := post(core+"/pods", map[string]any{
			"metadata": map[string]any{"name": pod, "labels": map[string]any{"app": "shop"},
				"ownerReferences": []any{map[string]any{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "shop-6c9d4", "uid": rsUID, "controller": true}}},
			"spec": map[string]any{"nodeName": node, "containers": []any{app}}})
		status(core+"/pods/"+pod, map[string]any{"phase": "Running", "podIP": c.nodes[node], "startTime": time.Now().UTC().Format(time.RFC3339),
			"conditions": []any{map[string]any{"type": "Ready", "status": "True"}},
			"containerStatuses": []any{map[string]any{"name": "app", "image": "registry.example/shop:1.0", "imageID": "", "containerID": "containerd://" + cid,
				"ready": true, "started": true, "restartCount": 0, "state": map[string]any{"running": map[string]any{"startedAt": time.Now().UTC().Format(time.RFC3339)}}}}})
		runtimes[node].add(t, c.ns, pod, uid, "app", cid)
		// The kubelet's limits on the container's cgroup (500m of CPU as a
		// CFS quota of 50 ms per 100 ms period, 128 MiB of memory), and a
		// process that uses some of both beside add's sleeping one.
		path := "kubepods/burstable/pod" + uid + "/" + cid
		mounts := cgroup.RequireV1(t)
		for _, m := range mounts {
			files := map[string]map[string]string{
				"cpu":    {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "50000"},
				"memory": {"memory.limit_in_bytes": strconv.Itoa(128 << 20)},
			}[filepath.Base(m)]
			for f, v := range files {
				if err := os.WriteFile(filepath.Join(m, path, f), []byte(v), 0o644); err != nil {
					t.Fatalf("the container's limit: %v", err)
				}
			}
		}
		b := testkit.StartBurner(t, testkit.BurnOptions{MiB: 8, Cores: 0.05})
		cgroup.Join(t, mounts, path, b.Pid())
		b.Go(t)
	}
	crashy := func(restarts int) map[string]any {
		return map[string]any{"phase": "Running", "containerStatuses": []any{map[string]any{
			"name": "app", "image": "registry.example/crashy:1.0", "imageID": "", "ready": false, "restartCount": restarts,
			"state": map[string]any{"waiting": map[string]any{"reason": "CrashLoopBackOff", "message": "back-off restarting failed container"}}}}}
	}
	post(core+"/pods", map[string]any{"metadata": map[string]any{"name": "crashy"},
		"spec": map[string]any{"nodeName": nodes[0], "containers": []any{map[string]any{"name": "app", "image": "registry.example/crashy:1.0",
			"resources": map[string]any{"requests": map[string]any{"cpu": "50m", "memory": "16Mi"}}}}}})
	status(core+"/pods/crashy", crashy(0))
	// A quota, with the status its controller would write, for the
	// namespace dashboard's quota lines (made last: quota admission needs
	// its status for every pod created after it).
	hard := map[string]any{"requests.cpu": "2", "limits.cpu": "4", "requests.memory": "1Gi", "limits.memory": "2Gi"}
	post(core+"/resourcequotas", map[string]any{"metadata": map[string]any{"name": "compute"}, "spec": map[string]any{"hard": hard}})
	status(core+"/resourcequotas/compute", map[string]any{"hard": hard, "used": map[string]any{"requests.cpu": "250m", "requests.memory": "80Mi"}})

	// The agents: the DaemonSet's pod on each node (hostNetwork: its pod
	// IP is the node's), its init container's serving certificate, and its
	// container's arguments.
	dsUID := wsUID(t, env, "/apis/apps/v1/namespaces/"+agentDS.namespace()+"/daemonsets/"+agentDS.name())
	initArgs := wsStrings(wsObject(agentDS.template(t)["spec"].(map[string]any)["initContainers"].([]any)[0].(map[string]any))["args"])
	agentNS, agentSA := agentDS.serviceAccount(t)
	agentKubeconfig := env.ServiceAccountKubeconfig(t, agentNS, agentSA)
	metricsPort := freeTCPPort(t)
	var agentPods []string
	for _, node := range nodes {
		ip := c.nodes[node]
		pod := "panoptes-agent-" + c.suffix + "-" + node[len(node)-2:]
		agentPods = append(agentPods, pod)
		wsPod(t, env, agentDS, pod, node, ip, "DaemonSet", agentDS.name(), dsUID)
		serving := t.TempDir()
		pod2 := []string{"$(POD_IP)", ip, "$(NODE_NAME)", node,
			"/etc/panoptes/agent-ca", caDir, "/var/run/panoptes/serving", serving}
		if out, err := exec.Command(agentBin, wsSubstitute(initArgs, pod2...)...).CombinedOutput(); err != nil {
			t.Fatalf("the agent's init container: %v\n%s", err, out)
		}
		args := wsSubstitute(agentDS.args(t), append(pod2,
			"--listen=:9100", "--listen="+ip+":"+strconv.Itoa(metricsPort),
			":10260", ":"+strconv.Itoa(c.port),
			"/host/proc", "/proc", "/host/sys", "/sys", "/host/root", "/")...)
		args = append(args, "--kubeconfig="+agentKubeconfig, "--container-runtime-endpoint="+runtimes[node].serve(t))
		cmd := exec.Command(agentBin, args...)
		cmd.Env = append(os.Environ(), agentDS.memoryLimitEnv(t)...)
		p := testkit.StartCmd(t, cmd)
		waitListening(t, &process{Process: p, cmd: p.Cmd, logs: p.Logs, done: p.Done}, "panoptes agent on "+node)
	}
	wsEndpoints(t, env, agentNS, "panoptes-agent", agentPods, map[string]int{"metrics": metricsPort})

	// panoptes state, as its Deployment's pod.
	stateNS, stateSA := stateDep.serviceAccount(t)
	statePort, telemetryPort := freeTCPPort(t), freeTCPPort(t)
	statePod := "panoptes-state-" + c.suffix
	wsPod(t, env, stateDep, statePod, nodes[1], "127.0.0.1")
	stateArgs := wsSubstitute(stateDep.args(t), "--port=8080", "--port="+strconv.Itoa(statePort), "--telemetry-port=8081", "--telemetry-port="+strconv.Itoa(telemetryPort))
	stateArgs = append(stateArgs, "--host=127.0.0.1", "--telemetry-host=127.0.0.1", "--kubeconfig="+env.ServiceAccountKubeconfig(t, stateNS, stateSA))
	cmd := exec.Command(panoptesBin, stateArgs...)
	cmd.Env = append(os.Environ(), stateDep.memoryLimitEnv(t)...)
	testkit.StartCmd(t, cmd)
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/readyz", telemetryPort))
	wsEndpoints(t, env, stateNS, "panoptes-state", []string{statePod}, map[string]int{"http-metrics": statePort, "telemetry": telemetryPort})

	// default/kubernetes, which the API server's endpoint reconciler (off
	// here) keeps: a documentation address mapped onto the API server.
	env.Ensure(t, "/api/v1/namespaces/default/services", map[string]any{
		"metadata": map[string]any{"name": "kubernetes"},
		"spec":     map[string]any{"ports": []any{map[string]any{"name": "https", "port": 443, "targetPort": 6443}}},
	})
	env.Ensure(t, "/api/v1/namespaces/default/endpoints", map[string]any{
		"metadata": map[string]any{"name": "kubernetes"},
		"subsets":  []any{map[string]any{"addresses": []any{map[string]any{"ip": "192.0.2.1"}}, "ports": []any{map[string]any{"name": "https", "port": 6443}}}},
	})

	// kubernetes-mixin's recording rules, which the dashboards read, as a
	// PrometheusRule.
	var rules map[string]any
	b, err := os.ReadFile(filepath.Join(kpRulesDir, "k8s.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	env.Call(t, http.StatusCreated, "POST", "/apis/monitoring.coreos.com/v1/namespaces/"+c.ns+"/prometheusrules", "", map[string]any{
		"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
		"metadata": map[string]any{"name": "kubernetes-mixin-k8s"}, "spec": rules,
	})

	// The server, as its StatefulSet's pod.
	serverNS, serverSA := serverSTS.serviceAccount(t)
	serverKC := env.ServiceAccountKubeconfig(t, serverNS, serverSA)
	saDir := env.ServiceAccountDir(t, serverNS, serverSA)
	self := "127.0.0.1:" + strconv.Itoa(freeTCPPort(t))
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "prometheus.yml")
	data, _ := serverCM["data"].(map[string]any)
	shipped, _ := data["prometheus.yml"].(string)
	if err := os.WriteFile(cfgFile, []byte(inClusterServerConfig(t, shipped, serverKC, saDir, self, strings.TrimPrefix(env.URL, "https://"))), 0o644); err != nil {
		t.Fatal(err)
	}
	dashboards, err := filepath.Abs(wsDashboardsDir)
	if err != nil {
		t.Fatal(err)
	}
	serverArgs := wsSubstitute(serverSTS.args(t),
		"--config.file=/etc/panoptes/prometheus.yml", "--config.file="+cfgFile,
		"--storage.tsdb.path=/data", "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=:9090", "--web.listen-address="+self)
	serverArgs = append(serverArgs, "--rules.kubernetes.kubeconfig="+serverKC, "--kubernetes.monitors.kubeconfig="+serverKC,
		"--web.dashboards-dir="+dashboards)
	cmd = exec.Command(panoptesBin, serverArgs...)
	cmd.Env = append(os.Environ(), serverSTS.memoryLimitEnv(t)...)
	sp := testkit.StartCmd(t, cmd)
	server := &process{Process: sp, cmd: sp.Cmd, logs: sp.Logs, done: sp.Done}
	_, base := waitListening(t, server, "panoptes server")

	// The metrics API, as its Deployment's pod, behind the APIService.
	mapiNS, mapiSA := mapiDep.serviceAccount(t)
	mapiPort := freeTCPPort(t)
	mapiArgs := wsSubstitute(mapiDep.args(t),
		"--cert-dir=/tmp", "--cert-dir="+t.TempDir(),
		"--secure-port=10250", "--secure-port="+strconv.Itoa(mapiPort),
		"--agent-port=10260", "--agent-port="+strconv.Itoa(c.port),
		"/etc/panoptes/agent-ca", caDir)
	mapiArgs = append(mapiArgs, "--bind-address=127.0.0.1", "--kubeconfig="+env.ServiceAccountKubeconfig(t, mapiNS, mapiSA))
	mp := testkit.StartCmd(t, exec.Command(panoptesBin, mapiArgs...))
	mapi := &process{Process: mp, cmd: mp.Cmd, logs: mp.Logs, done: mp.Done}
	waitReady(t, mapi, fmt.Sprintf("https://127.0.0.1:%d/readyz", mapiPort), 90*time.Second)
	registerMetricsAPIService(t, env, mapiPort)

	t.Run("kubectl top", func(t *testing.T) {
		_, rows := waitTop(t, env, 1, nodes, "top", "nodes", "-l", c.selector)
		for _, n := range nodes {
			if row := rows[n]; len(row) != 4 || !strings.HasSuffix(row[0], "m") || !strings.HasSuffix(row[2], "Mi") {
				t.Errorf("kubectl top nodes: %s: %v", n, row)
			}
		}
		_, prows := waitTop(t, env, 1, shopPods, "top", "pods", "-n", c.ns)
		for _, p := range shopPods {
			if row := prows[p]; len(row) != 2 || !strings.HasSuffix(row[0], "m") || !strings.HasSuffix(row[1], "Mi") {
				t.Errorf("kubectl top pods: %s: %v", p, row)
			}
		}
	})

	t.Run("crash-looping pod alerts", func(t *testing.T) {
		// The restart count rises as the kubelet would report it, each
		// value scraped before the next.
		restarts := `kube_pod_container_status_restarts_total{job="kube-state-metrics", namespace="` + c.ns + `", pod="crashy"}`
		for _, n := range []int{0, 2, 4, 6} {
			status(core+"/pods/crashy", crashy(n))
			waitQuery(t, base, restarts+" == "+strconv.Itoa(n), 3*time.Minute, nil)
		}
		eventually(t, 3*time.Minute, func() string {
			states := map[string]string{}
			for _, a := range wsAlerts(t, base) {
				if a.Labels["namespace"] == c.ns && a.Labels["pod"] == "crashy" {
					states[a.Labels["alertname"]] = a.State
				}
			}
			if states["PanoptesKubeContainerRestartingOften"] != "firing" || states["PanoptesKubePodCrashLooping"] != "pending" {
				return fmt.Sprintf("alerts of the crash-looping pod: %v; want PanoptesKubeContainerRestartingOften firing and PanoptesKubePodCrashLooping pending (for: 15m)", states)
			}
			return ""
		})
	})

	t.Run("compute resources dashboards", func(t *testing.T) {
		prefer := map[string]string{"namespace": c.ns, "pod": shopPods[0], "node": nodes[0]}
		var report []string
		results := map[string][]wsPanelResult{}
		uids := slices.Sorted(maps.Keys(wsNoData))
		eventually(t, 4*time.Minute, func() string {
			var problems []string
			for _, uid := range uids {
				last, problem := wsDashboardData(t, base, uid, prefer)
				if problem == "" {
					problem = wsCoverageProblems(uid, last)
				}
				results[uid] = last
				if problem != "" {
					problems = append(problems, problem)
				}
			}
			if len(problems) > 0 {
				time.Sleep(5 * time.Second) // a scrape or evaluation to come
			}
			return strings.Join(problems, "\n")
		})
		for _, uid := range uids {
			with := 0
			for _, p := range results[uid] {
				if p.data {
					with++
				}
			}
			var empty []string
			for _, title := range slices.Sorted(maps.Keys(wsNoData[uid])) {
				empty = append(empty, fmt.Sprintf("%s: %s", title, wsNoData[uid][title]))
			}
			n := len(results[uid])
			report = append(report, fmt.Sprintf("| %s | %d of %d (%.0f%%) | %s |", uid, with, n, 100*float64(with)/float64(n), strings.Join(empty, "; ")))
		}
		t.Logf("panels with data per dashboard:\n%s", strings.Join(report, "\n"))
	})
}

// wsUID returns the uid of the object at path.
func wsUID(t *testing.T, env *k8s.Env, path string) string {
	t.Helper()
	var o struct {
		Metadata struct{ UID string } `json:"metadata"`
	}
	if err := json.Unmarshal(env.Call(t, http.StatusOK, "GET", path, "", nil), &o); err != nil {
		t.Fatal(err)
	}
	return o.Metadata.UID
}

type wsAlert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

func wsAlerts(t *testing.T, base string) []wsAlert {
	t.Helper()
	_, body := get(t, base+"/api/v1/alerts")
	var r struct {
		Data struct {
			Alerts []wsAlert `json:"alerts"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("/api/v1/alerts: %v: %s", err, body)
	}
	return r.Data.Alerts
}

// wsDashboard is what GET /api/ui/dashboards/<id> answers, as far as the
// test reads it.
type wsDashboard struct {
	ID        string `json:"id"`
	Variables []struct {
		Name  string `json:"name"`
		Type  string `json:"type"`
		Query string `json:"query"`
	} `json:"variables"`
	Panels []wsModelPanel `json:"panels"`
	Import *struct {
		Panels       int `json:"panels"`
		Rendered     int `json:"rendered"`
		Placeholders []struct {
			Panel string `json:"panel"`
		} `json:"placeholders"`
		Unresolved []struct {
			Name string `json:"name"`
		} `json:"unresolvedVariables"`
	} `json:"import"`
}

type wsModelPanel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		Expr    string `json:"expr"`
		Instant bool   `json:"instant"`
		Format  string `json:"format"`
		Hide    bool   `json:"hide"`
	} `json:"targets"`
	Panels []wsModelPanel `json:"panels"`
}

// wsPanelResult is whether a panel's queries returned data, with the
// queries as run.
type wsPanelResult struct {
	title   string
	data    bool
	queries []string
}

var wsLabelValuesRE = regexp.MustCompile(`^label_values\((?:(.*),\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// wsDashboardData reads the imported dashboard, resolves its variables
// over the server's data as Grafana would (label_values; the value in
// prefer where the variable has it, else its first, else empty), and runs
// each panel's queries with the variables and Grafana's intervals
// substituted: a range query over the last five minutes, or an instant
// query for instant targets. A panel has data when a query returns a
// series with a value that is a number.
func wsDashboardData(t *testing.T, base, uid string, prefer map[string]string) ([]wsPanelResult, string) {
	t.Helper()
	resp, body := get(t, base+"/api/ui/dashboards/"+uid)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/ui/dashboards/%s: %s: %s", uid, resp.Status, body)
	}
	var envelope struct {
		Data wsDashboard `json:"data"`
	}
	if err := json.Unmarshal(body, &envelope); err != nil {
		t.Fatalf("dashboard %s: %v", uid, err)
	}
	d := envelope.Data
	if d.Import == nil || d.Import.Panels != d.Import.Rendered || len(d.Import.Placeholders)+len(d.Import.Unresolved) > 0 {
		t.Fatalf("dashboard %s did not import whole: %s", uid, body)
	}
	vars := map[string]string{"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}
	subst := func(s string) string {
		names := slices.Collect(maps.Keys(vars))
		sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
		for _, n := range names {
			s = strings.NewReplacer("${"+n+"}", vars[n], "[["+n+"]]", vars[n], "$"+n, vars[n]).Replace(s)
		}
		return s
	}
	for _, v := range d.Variables {
		if v.Type != "" && v.Type != "query" {
			t.Fatalf("dashboard %s: variable %s of type %s", uid, v.Name, v.Type)
		}
		m := wsLabelValuesRE.FindStringSubmatch(subst(v.Query))
		if m == nil {
			t.Fatalf("dashboard %s: variable %s: query %q is not label_values", uid, v.Name, v.Query)
		}
		q := url.Values{}
		if m[1] != "" {
			q.Set("match[]", m[1])
		}
		_, body := get(t, base+"/api/v1/label/"+m[2]+"/values?"+q.Encode())
		var r struct {
			Data []string `json:"data"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("label values of %s: %v: %s", v.Name, err, body)
		}
		vars[v.Name] = ""
		if len(r.Data) > 0 {
			vars[v.Name] = r.Data[0]
		}
		if want, ok := prefer[v.Name]; ok {
			if !slices.Contains(r.Data, want) {
				return nil, fmt.Sprintf("%s: variable %s (%s) does not offer %s: %v", uid, v.Name, m[0], want, r.Data)
			}
			vars[v.Name] = want
		}
	}
	var out []wsPanelResult
	var walk func([]wsModelPanel)
	walk = func(ps []wsModelPanel) {
		for _, p := range ps {
			if p.Type == "row" || p.Type == "text" {
				walk(p.Panels)
				continue
			}
			res := wsPanelResult{title: p.Title}
			for _, tg := range p.Targets {
				if tg.Hide || tg.Expr == "" {
					continue
				}
				expr := subst(tg.Expr)
				res.queries = append(res.queries, expr)
				res.data = res.data || wsHasData(t, base, expr, tg.Instant || tg.Format == "table")
			}
			out = append(out, res)
		}
	}
	walk(d.Panels)
	return out, ""
}

// wsHasData runs expr and reports whether a series has a numeric value.
func wsHasData(t *testing.T, base, expr string, instant bool) bool {
	t.Helper()
	now := time.Now()
	q := url.Values{"query": {expr}}
	path := "/api/v1/query?"
	if instant {
		q.Set("time", strconv.FormatInt(now.Unix(), 10))
	} else {
		path = "/api/v1/query_range?"
		q.Set("start", strconv.FormatInt(now.Add(-5*time.Minute).Unix(), 10))
		q.Set("end", strconv.FormatInt(now.Unix(), 10))
		q.Set("step", "15")
	}
	_, body := get(t, base+path+q.Encode())
	var r struct {
		Status    string `json:"status"`
		Error     string `json:"error"`
		ErrorType string `json:"errorType"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %v %s: %s", expr, err, r.ErrorType, r.Error)
	}
	numeric := func(v any) bool {
		s, _ := v.(string)
		f, err := strconv.ParseFloat(s, 64)
		return err == nil && f == f // not NaN
	}
	switch r.Data.ResultType {
	case "scalar":
		var v [2]any
		_ = json.Unmarshal(r.Data.Result, &v)
		return numeric(v[1])
	case "vector":
		var vs []struct {
			Value [2]any `json:"value"`
		}
		_ = json.Unmarshal(r.Data.Result, &vs)
		for _, s := range vs {
			if numeric(s.Value[1]) {
				return true
			}
		}
	case "matrix":
		var ms []struct {
			Values [][2]any `json:"values"`
		}
		_ = json.Unmarshal(r.Data.Result, &ms)
		for _, s := range ms {
			for _, v := range s.Values {
				if numeric(v[1]) {
					return true
				}
			}
		}
	}
	return false
}

// wsCoverageProblems compares the panels' data with wsNoData: "" when
// every panel has data but the listed ones, which have none.
func wsCoverageProblems(uid string, panels []wsPanelResult) string {
	var problems []string
	seen := map[string]bool{}
	for _, p := range panels {
		seen[p.title] = true
		why, listed := wsNoData[uid][p.title]
		switch {
		case !p.data && !listed:
			problems = append(problems, fmt.Sprintf("%s: %q has no data:\n    %s", uid, p.title, strings.Join(p.queries, "\n    ")))
		case p.data && listed:
			problems = append(problems, fmt.Sprintf("%s: %q has data, but wsNoData says it cannot (%s)", uid, p.title, why))
		}
	}
	for title := range wsNoData[uid] {
		if !seen[title] {
			problems = append(problems, fmt.Sprintf("%s: wsNoData names %q, which the dashboard does not have", uid, title))
		}
	}
	sort.Strings(problems)
	return strings.Join(problems, "\n")
}
