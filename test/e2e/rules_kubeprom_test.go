package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/panoptes-dev/panoptes/internal/testkit"
	"github.com/panoptes-dev/panoptes/internal/testkit/cgroup"
	"github.com/panoptes-dev/panoptes/internal/testkit/k8s"
)

// Rule content in kube-prometheus' style (testdata/rules, written here:
// kube-prometheus' own files are studied, never copied) must load unchanged
// in `panoptes server` and evaluate without errors against Panoptes' own
// exporters, scraped under kube-prometheus' job names:
//
//   - `panoptes agent`'s host metrics as job="node-exporter" (its
//     collectors but the container one: exclude[]=container), instance =
//     the node's name, and the namespace and pod of the agent's pod, as
//     kube-prometheus' node-exporter ServiceMonitor labels them;
//   - its container metrics as job="kubelet", metrics_path=
//     "/metrics/cadvisor" (collect[]=container), honouring the exposition's
//     namespace/pod/container labels as kube-prometheus' kubelet
//     ServiceMonitor does;
//   - `panoptes state`'s /metrics and telemetry as job="kube-state-metrics",
//     honouring its labels.
//
// deploy/server/prometheus.yml gives the same jobs the same labels through
// Kubernetes discovery (TestKubePromDeployJobNames; it adds a node label to
// the host metrics too); here the targets are static, because the API
// server refuses the loopback endpoint addresses the tests listen on.
//
// The containers are real: cgroups made the way the kubelet's cgroupfs
// driver lays them out, each holding a process, named by a CRI runtime
// service the test runs (there is no containerd here), for pods the test
// creates in the real API server, so that cAdvisor-named series carry the
// namespace, pod, container and image labels the rules join on.

// kpRulesDir holds the rule files; kpPrometheusRule is the PrometheusRule
// object whose spec.groups is a rule file too.
var (
	kpRulesDir       = filepath.Join("testdata", "rules")
	kpPrometheusRule = filepath.Join(kpRulesDir, "prometheusrule", "general.yaml")
)

// kpRuleGroup and kpRule are the parts of a rule file the tests read.
type kpRuleGroup struct {
	Name        string   `yaml:"name"`
	Interval    string   `yaml:"interval"`
	QueryOffset string   `yaml:"query_offset"`
	Limit       int      `yaml:"limit"`
	Rules       []kpRule `yaml:"rules"`
	// File is the path the server loads the group from.
	File string `yaml:"-"`
}

type kpRule struct {
	Record        string            `yaml:"record"`
	Alert         string            `yaml:"alert"`
	Expr          string            `yaml:"expr"`
	For           string            `yaml:"for"`
	KeepFiringFor string            `yaml:"keep_firing_for"`
	Labels        map[string]string `yaml:"labels"`
	Annotations   map[string]string `yaml:"annotations"`
}

// name is the rule's name as /api/v1/rules shows it.
func (r kpRule) name() string {
	if r.Record != "" {
		return r.Record
	}
	return r.Alert
}

// selector selects the series a recording rule writes: its name and
// its static labels.
func (r kpRule) selector() string {
	m := []string{fmt.Sprintf("__name__=%q", r.Record)}
	for _, k := range sortedLabelNames(r.Labels) {
		m = append(m, fmt.Sprintf("%s=%q", k, r.Labels[k]))
	}
	return "{" + strings.Join(m, ", ") + "}"
}

// key names a rule for reports: several rules may record one name with
// different static labels (kube-prometheus' workload_type).
func (r kpRule) key() string {
	if len(r.Labels) == 0 || r.Record == "" {
		return r.name()
	}
	return r.selector()
}

func sortedLabelNames(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// kpRuleFiles returns the rule_files entries that load the test's rule
// content unchanged — the glob of testdata/rules/*.yaml and the
// PrometheusRule's spec.groups, written as a rule file of its own (the
// groups' YAML node as it is, comments included) — and the groups they
// hold, each with the file the server names it by.
func kpRuleFiles(t *testing.T) (ruleFiles []string, groups []kpRuleGroup) {
	t.Helper()
	dir, err := filepath.Abs(kpRulesDir)
	if err != nil {
		t.Fatal(err)
	}
	glob := filepath.Join(dir, "*.yaml")
	paths, err := filepath.Glob(glob)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no rule files match %s (%v)", glob, err)
	}
	raw, err := os.ReadFile(kpPrometheusRule)
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Spec       struct {
			Groups yaml.Node `yaml:"groups"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(raw, &obj); err != nil {
		t.Fatalf("%s: %v", kpPrometheusRule, err)
	}
	if obj.APIVersion != "monitoring.coreos.com/v1" || obj.Kind != "PrometheusRule" || obj.Spec.Groups.Kind != yaml.SequenceNode {
		t.Fatalf("%s: not a PrometheusRule with spec.groups", kpPrometheusRule)
	}
	specFile, err := yaml.Marshal(map[string]*yaml.Node{"groups": &obj.Spec.Groups})
	if err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(t.TempDir(), "prometheusrule-general.yaml")
	if err := os.WriteFile(spec, specFile, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range append(paths, spec) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var f struct {
			Groups []kpRuleGroup `yaml:"groups"`
		}
		if err := yaml.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, g := range f.Groups {
			g.File = p
			groups = append(groups, g)
		}
	}
	return []string{glob, spec}, groups
}

// kpCluster is what the rule tests scrape: objects in the real API server,
// containers named by a CRI runtime, `panoptes agent` and `panoptes state`.
type kpCluster struct {
	ns, node, agentPod string
	// agent is the agent's host:port; state and telemetry are panoptes
	// state's /metrics and self-metrics host:port.
	agent, state, telemetry string
	// containers are the pods' containers, "pod/container".
	containers []string
}

// kpWebPods are the Deployment's pods; each runs one container "app".
var kpWebPods = []string{"web-7d9f-abcde", "web-7d9f-fghij"}

// startKPCluster creates the objects (a Node; a Deployment with its
// ReplicaSet and two pods, running, whose containers are real cgroups; a
// DaemonSet with the agent's pod; a crash-looping pod), runs a CRI runtime
// service naming the containers, and starts the agent and the state
// exporter.
func startKPCluster(t *testing.T) *kpCluster {
	t.Helper()
	cgroup.RequireRoot(t)
	env := k8s.Start(t)
	sfx := uniqueSuffix()
	c := &kpCluster{ns: "kubeprom-" + sfx, node: "kp-node-" + sfx, agentPod: "panoptes-agent-" + sfx[:5]}

	post := func(path string, obj map[string]any) string {
		var out struct {
			Metadata struct {
				UID string `json:"uid"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(env.Call(t, 201, "POST", path, "", obj), &out); err != nil {
			t.Fatal(err)
		}
		return out.Metadata.UID
	}
	status := func(path string, st map[string]any) {
		env.Call(t, 200, "PATCH", path+"/status", "application/merge-patch+json", map[string]any{"status": st})
	}
	owner := func(kind, name, uid string) []any {
		return []any{map[string]any{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid, "controller": true}}
	}
	core, apps := "/api/v1/namespaces/"+c.ns, "/apis/apps/v1/namespaces/"+c.ns
	post("/api/v1/namespaces", map[string]any{"metadata": map[string]any{"name": c.ns}})

	post("/api/v1/nodes", map[string]any{"metadata": map[string]any{"name": c.node, "labels": map[string]any{"kubernetes.io/hostname": c.node}}})
	t.Cleanup(func() { _, _, _ = env.Do(context.Background(), "DELETE", "/api/v1/nodes/"+c.node, "", nil) })
	status("/api/v1/nodes/"+c.node, map[string]any{
		"capacity":    map[string]any{"cpu": "4", "memory": "8Gi", "pods": "110"},
		"allocatable": map[string]any{"cpu": "3800m", "memory": "7Gi", "pods": "110"},
		"conditions": []any{map[string]any{"type": "Ready", "status": "True", "reason": "KubeletReady",
			"lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}},
		"addresses": []any{map[string]any{"type": "InternalIP", "address": "10.0.0.1"}},
		"nodeInfo": map[string]any{"machineID": "m", "systemUUID": "u", "bootID": "b", "kernelVersion": "6.1.0", "osImage": "Debian GNU/Linux 13",
			"containerRuntimeVersion": "containerd://2.1.0", "kubeletVersion": "v1.37.2", "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"},
	})

	running := func(name, cid string) map[string]any {
		return map[string]any{
			"phase": "Running", "startTime": "2026-01-01T00:00:00Z", "hostIP": "10.0.0.1", "podIP": "10.1.0.5",
			"conditions": []any{map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:05Z"}},
			"containerStatuses": []any{map[string]any{"name": name, "image": "docker.io/library/nginx:1.27", "imageID": "", "containerID": "containerd://" + cid,
				"ready": true, "started": true, "restartCount": 0, "state": map[string]any{"running": map[string]any{"startedAt": "2026-01-01T00:00:04Z"}}}},
		}
	}
	container := map[string]any{"name": "app", "image": "docker.io/library/nginx:1.27",
		"resources": map[string]any{"requests": map[string]any{"cpu": "250m", "memory": "64Mi"}, "limits": map[string]any{"memory": "128Mi"}}}
	tmpl := func(app string) map[string]any {
		return map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": app}},
			"spec": map[string]any{"containers": []any{container}}}
	}
	selector := func(app string) map[string]any {
		return map[string]any{"matchLabels": map[string]any{"app": app}}
	}

	depUID := post(apps+"/deployments", map[string]any{"metadata": map[string]any{"name": "web"},
		"spec": map[string]any{"replicas": 2, "selector": selector("web"), "template": tmpl("web")}})
	status(apps+"/deployments/web", map[string]any{"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2})
	rsUID := post(apps+"/replicasets", map[string]any{"metadata": map[string]any{"name": "web-7d9f", "ownerReferences": owner("Deployment", "web", depUID)},
		"spec": map[string]any{"replicas": 2, "selector": selector("web"), "template": tmpl("web")}})
	status(apps+"/replicasets/web-7d9f", map[string]any{"observedGeneration": 1, "replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 2})
	dsUID := post(apps+"/daemonsets", map[string]any{"metadata": map[string]any{"name": "panoptes-agent"},
		"spec": map[string]any{"selector": selector("panoptes-agent"), "template": tmpl("panoptes-agent")}})
	status(apps+"/daemonsets/panoptes-agent", map[string]any{"observedGeneration": 1, "currentNumberScheduled": 1, "desiredNumberScheduled": 1,
		"numberMisscheduled": 0, "numberReady": 1, "numberAvailable": 1, "updatedNumberScheduled": 1})

	rt := &kpRuntime{}
	for _, pod := range kpWebPods {
		cid := randomHex(t, 32)
		uid := post(core+"/pods", map[string]any{
			"metadata": map[string]any{"name": pod, "labels": map[string]any{"app": "web"}, "ownerReferences": owner("ReplicaSet", "web-7d9f", rsUID)},
			"spec":     map[string]any{"nodeName": c.node, "containers": []any{container}},
		})
		status(core+"/pods/"+pod, running("app", cid))
		rt.add(t, c.ns, pod, uid, "app", cid)
		c.containers = append(c.containers, pod+"/app")
	}
	post(core+"/pods", map[string]any{
		"metadata": map[string]any{"name": c.agentPod, "labels": map[string]any{"app": "panoptes-agent"}, "ownerReferences": owner("DaemonSet", "panoptes-agent", dsUID)},
		"spec":     map[string]any{"nodeName": c.node, "containers": []any{map[string]any{"name": "agent", "image": "ghcr.io/panoptes-dev/panoptes-agent:test"}}},
	})
	status(core+"/pods/"+c.agentPod, running("agent", randomHex(t, 32)))
	post(core+"/pods", map[string]any{
		"metadata": map[string]any{"name": "crashy", "labels": map[string]any{"app": "crashy"}},
		"spec":     map[string]any{"nodeName": c.node, "containers": []any{map[string]any{"name": "app", "image": "busybox"}}},
	})
	status(core+"/pods/crashy", map[string]any{"phase": "Running", "containerStatuses": []any{map[string]any{
		"name": "app", "image": "busybox", "imageID": "", "ready": false, "restartCount": 7,
		"state": map[string]any{"waiting": map[string]any{"reason": "CrashLoopBackOff"}}}}})

	sock := rt.serve(t)
	_, agent := startAgent(t, "--container-runtime-endpoint="+sock)
	c.agent = strings.TrimPrefix(agent, "http://")
	_, state, telemetry := startStateReady(t, "--kubeconfig="+env.Kubeconfig, "--namespaces="+c.ns)
	c.state, c.telemetry = strings.TrimPrefix(state, "http://"), strings.TrimPrefix(telemetry, "http://")
	return c
}

// kpRuntime is a CRI runtime service that names the test's containers, as
// containerd would for the kubelet's pods.
type kpRuntime struct {
	runtimeapi.UnimplementedRuntimeServiceServer

	mu         sync.Mutex
	sandboxes  []*runtimeapi.PodSandbox
	containers []*runtimeapi.Container
}

// add makes the container's cgroup (and its pod's) the way the kubelet's
// cgroupfs driver lays them out, moves a sleeping process into it, and
// names both through the runtime.
func (r *kpRuntime) add(t *testing.T, ns, pod, podUID, name, id string) {
	t.Helper()
	path := "kubepods/burstable/pod" + podUID + "/" + id
	mounts := cgroup.Make(t, path)
	p := testkit.Start(t, "sleep", "3600")
	cgroup.Join(t, mounts, path, p.Cmd.Process.Pid)

	podLabels := map[string]string{"io.kubernetes.pod.name": pod, "io.kubernetes.pod.namespace": ns, "io.kubernetes.pod.uid": podUID}
	sandboxID := randomHex(t, 32)
	labels := map[string]string{"io.kubernetes.container.name": name}
	for k, v := range podLabels {
		labels[k] = v
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sandboxes = append(r.sandboxes, &runtimeapi.PodSandbox{
		Id: sandboxID, Metadata: &runtimeapi.PodSandboxMetadata{Name: pod, Uid: podUID, Namespace: ns},
		State: runtimeapi.PodSandboxState_SANDBOX_READY, CreatedAt: time.Now().UnixNano(), Labels: podLabels,
	})
	r.containers = append(r.containers, &runtimeapi.Container{
		Id: id, PodSandboxId: sandboxID, Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: "docker.io/library/nginx:1.27", UserSpecifiedImage: "docker.io/library/nginx:1.27"},
		ImageRef: "sha256:" + strings.Repeat("ab", 32), State: runtimeapi.ContainerState_CONTAINER_RUNNING,
		CreatedAt: time.Now().UnixNano(), Labels: labels,
	})
}

func (r *kpRuntime) Version(context.Context, *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{Version: "0.1.0", RuntimeName: "containerd", RuntimeVersion: "v2.1.0", RuntimeApiVersion: "v1"}, nil
}

func (r *kpRuntime) ListPodSandbox(context.Context, *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &runtimeapi.ListPodSandboxResponse{Items: r.sandboxes}, nil
}

func (r *kpRuntime) ListContainers(context.Context, *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &runtimeapi.ListContainersResponse{Containers: r.containers}, nil
}

// serve runs the runtime service on a unix socket and returns its path.
func (r *kpRuntime) serve(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cri") // t.TempDir may pass the 108-byte socket path limit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "runtime.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, r)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return sock
}

// kpScrapeConfigs are the scrape jobs under kube-prometheus' names (see the
// comment at the top of this file).
func (c *kpCluster) scrapeConfigs() string {
	return fmt.Sprintf(`scrape_configs:
  - job_name: node-exporter
    params:
      exclude[]: [container]
    static_configs:
      - targets: [%[1]q]
    relabel_configs:
      - target_label: instance
        replacement: %[2]q
      - target_label: namespace
        replacement: %[3]q
      - target_label: pod
        replacement: %[4]q
  - job_name: kubelet
    honor_labels: true
    params:
      collect[]: [container]
    static_configs:
      - targets: [%[1]q]
    relabel_configs:
      - target_label: metrics_path
        replacement: /metrics/cadvisor
      - target_label: node
        replacement: %[2]q
  - job_name: kube-state-metrics
    honor_labels: true
    static_configs:
      - targets: [%[5]q, %[6]q]
`, c.agent, c.node, c.ns, c.agentPod, c.state, c.telemetry)
}

// kpQueryOffset is the config's rule_query_offset, for the groups that set
// none.
const kpQueryOffset = 5 * time.Second

// kpConfig writes the server's config (kpConfigText) to a file of its own
// and returns the path.
func kpConfig(t *testing.T, c *kpCluster, ruleFiles []string, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(path, []byte(kpConfigText(c, ruleFiles, extra)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// kpConfigText is the server's config: 2 s scrapes and evaluations, a rule
// query offset of kpQueryOffset (the groups that read other groups'
// records set a longer one of their own), the rule files, the scrape jobs
// and extra (remote_write, for the oracle).
func kpConfigText(c *kpCluster, ruleFiles []string, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: 2s\n  scrape_timeout: 2s\n  evaluation_interval: 2s\n  rule_query_offset: %s\n", kpQueryOffset)
	if len(ruleFiles) > 0 {
		b.WriteString("rule_files:\n")
	}
	for _, f := range ruleFiles {
		fmt.Fprintf(&b, "  - %q\n", f)
	}
	b.WriteString(c.scrapeConfigs())
	b.WriteString(extra)
	return b.String()
}

// kpAPIRule is a rule of /api/v1/rules, and kpAPIGroup a group.
type kpAPIRule struct {
	Name           string            `json:"name"`
	Type           string            `json:"type"`
	Health         string            `json:"health"`
	LastError      string            `json:"lastError"`
	Labels         map[string]string `json:"labels"`
	LastEvaluation time.Time         `json:"lastEvaluation"`
	State          string            `json:"state"`
}

type kpAPIGroup struct {
	Name  string      `json:"name"`
	File  string      `json:"file"`
	Rules []kpAPIRule `json:"rules"`
}

// kpRulesAPI returns /api/v1/rules' groups.
func kpRulesAPI(t *testing.T, base string) []kpAPIGroup {
	t.Helper()
	resp, body := get(t, base+"/api/v1/rules")
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Groups []kpAPIGroup `json:"groups"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		t.Fatalf("/api/v1/rules: HTTP %d, %v: %s", resp.StatusCode, err, body)
	}
	return r.Data.Groups
}

// kpRulesHealthy checks /api/v1/rules against the rule files: every group
// of every file, with its rules in order, each evaluated (a last
// evaluation) and healthy. It returns what is not so, "" when all is.
func kpRulesHealthy(t *testing.T, base string, groups []kpRuleGroup) string {
	t.Helper()
	api := map[string]kpAPIGroup{}
	for _, g := range kpRulesAPI(t, base) {
		api[g.File+";"+g.Name] = g
	}
	var problems []string
	for _, g := range groups {
		ag, ok := api[g.File+";"+g.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("group %s of %s is not loaded", g.Name, g.File))
			continue
		}
		if len(ag.Rules) != len(g.Rules) {
			problems = append(problems, fmt.Sprintf("group %s: %d rules loaded, the file has %d", g.Name, len(ag.Rules), len(g.Rules)))
			continue
		}
		for i, r := range g.Rules {
			ar := ag.Rules[i]
			switch {
			case ar.Name != r.name():
				problems = append(problems, fmt.Sprintf("group %s: rule %d is %s, the file's is %s", g.Name, i, ar.Name, r.name()))
			case ar.LastEvaluation.IsZero() || ar.LastEvaluation.Year() < 2000:
				problems = append(problems, fmt.Sprintf("group %s: %s not evaluated yet (health %q)", g.Name, ar.Name, ar.Health))
			case ar.Health != "ok":
				problems = append(problems, fmt.Sprintf("group %s: %s health %q, lastError: %s", g.Name, ar.Name, ar.Health, ar.LastError))
			}
		}
	}
	return strings.Join(problems, "\n")
}

// kpExpectedRecords are the recording rules (kpRule.key) that must give
// series against the test's cluster; every other one is listed in the log.
// Those whose input this machine may lack are left out: disk I/O (which
// block devices a host has), CFS throttling (no CPU quota is set), swap.
var kpExpectedRecords = []string{
	// node-exporter.yaml
	"instance:node_num_cpu:sum",
	"instance:node_cpu_utilisation:rate5m",
	"instance:node_load1_per_cpu:ratio",
	"instance:node_memory_utilisation:ratio",
	"instance:node_vmstat_pgmajfault:rate5m",
	"instance:node_network_receive_bytes_excluding_lo:rate5m",
	"instance:node_network_transmit_bytes_excluding_lo:rate5m",
	"instance:node_network_receive_drop_excluding_lo:rate5m",
	// k8s.yaml
	"node_namespace_pod_container:container_cpu_usage_seconds_total:sum_irate",
	"node_namespace_pod_container:container_cpu_usage_seconds_total:sum_rate5m",
	"namespace:container_cpu_usage_seconds_total:sum_rate5m",
	"node_namespace_pod_container:container_memory_working_set_bytes",
	"node_namespace_pod_container:container_memory_rss",
	"node_namespace_pod_container:container_memory_cache",
	"cluster:namespace:pod_memory:active:kube_pod_container_resource_requests",
	"namespace_memory:kube_pod_container_resource_requests:sum",
	"cluster:namespace:pod_cpu:active:kube_pod_container_resource_requests",
	"namespace_cpu:kube_pod_container_resource_requests:sum",
	"cluster:namespace:pod_memory:active:kube_pod_container_resource_limits",
	"namespace_pod_container:container_memory_working_set_bytes:ratio_requests",
	`{__name__="namespace_workload_pod:kube_pod_owner:relabel", workload_type="deployment"}`,
	`{__name__="namespace_workload_pod:kube_pod_owner:relabel", workload_type="daemonset"}`,
	"namespace_workload:container_cpu_usage_seconds_total:sum_rate5m",
	"node_namespace_pod:kube_pod_info:",
	"node:node_num_cpu:sum",
	":node_memory_MemAvailable_bytes:sum",
	"node:node_cpu_utilisation:ratio_rate5m",
	"cluster:node_cpu:ratio_rate5m",
	// kubernetes-apps.yaml
	"job:http_request_duration_seconds:p99_rate5m",
	"job:http_request_duration_seconds:mean_rate5m",
	// prometheusrule/general.yaml
	"job:up:sum",
	"job:up:ratio",
}

// kpRecords returns the recording rules of groups.
func kpRecords(groups []kpRuleGroup) []kpRule {
	var out []kpRule
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				out = append(out, r)
			}
		}
	}
	return out
}

// kpWaitRecords waits until every expected record has series in the
// server and returns, for the log, the recording rules that have none.
func kpWaitRecords(t *testing.T, base string, groups []kpRuleGroup) (empty []string) {
	t.Helper()
	records := kpRecords(groups)
	known := map[string]bool{}
	for _, r := range records {
		known[r.key()] = true
	}
	for _, k := range kpExpectedRecords {
		if !known[k] {
			t.Fatalf("kpExpectedRecords names %s, which no rule file records", k)
		}
	}
	eventually(t, 3*time.Minute, func() string {
		var missing []string
		for _, k := range kpExpectedRecords {
			if len(instantQuery(t, base, kpKeySelector(k))) == 0 {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			return "recording rules without series:\n  " + strings.Join(missing, "\n  ")
		}
		return ""
	})
	for _, r := range records {
		if len(instantQuery(t, base, r.selector())) == 0 {
			empty = append(empty, r.key())
		}
	}
	return empty
}

// kpKeySelector turns a kpRule.key back into a selector.
func kpKeySelector(key string) string {
	if strings.HasPrefix(key, "{") {
		return key
	}
	return fmt.Sprintf("{__name__=%q}", key)
}

// kpEvaluationFailures sums prometheus_rule_evaluation_failures_total of
// the server's own /metrics over the groups of the rule files, by group.
func kpEvaluationFailures(t *testing.T, base string, groups []kpRuleGroup) map[string]float64 {
	t.Helper()
	ours := map[string]bool{}
	for _, g := range groups {
		ours[g.File+";"+g.Name] = true
	}
	out := map[string]float64{}
	for _, m := range scrape(t, base+"/metrics")["prometheus_rule_evaluation_failures_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "rule_group" && ours[l.GetValue()] && m.GetCounter().GetValue() > 0 {
				out[l.GetValue()] += m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// TestKubePromRulesEvaluate: the rule files load unchanged in `panoptes
// server` (rule_files globbing them, and a PrometheusRule's spec.groups),
// every rule evaluates healthy against Panoptes' own agent and state
// exporter under kube-prometheus' job names, the expected recording rules
// give series, and templated alerts fire with their annotations rendered.
func TestKubePromRulesEvaluate(t *testing.T) {
	t.Parallel()
	ruleFiles, groups := kpRuleFiles(t)
	c := startKPCluster(t)
	_, base := startServer(t, "--config.file="+kpConfig(t, c, ruleFiles, ""))

	// The containers are named through the CRI runtime, the pods joined to
	// their node: what every k8s.rules record needs.
	waitQuery(t, base, fmt.Sprintf(`node_namespace_pod_container:container_memory_working_set_bytes{namespace=%q, node=%q}`, c.ns, c.node),
		3*time.Minute, func(s []vectorSample) bool { return len(s) == len(c.containers) })
	empty := kpWaitRecords(t, base, groups)
	eventually(t, 2*time.Minute, func() string { return kpRulesHealthy(t, base, groups) })
	if f := kpEvaluationFailures(t, base, groups); len(f) > 0 {
		t.Errorf("rule evaluation failures (prometheus_rule_evaluation_failures_total) by group: %v", f)
	}
	rules := 0
	for _, g := range groups {
		rules += len(g.Rules)
	}
	t.Logf("%d groups, %d rules (%d recording) healthy; recording rules without series here: %v",
		len(groups), rules, len(kpRecords(groups)), empty)

	// The crash-looping pod fires KubePodCrashLooping after its 4 s "for",
	// its description rendered from $labels; Watchdog (the
	// PrometheusRule's) fires at once.
	want := fmt.Sprintf(`Pod %s/crashy (app) is in waiting state (reason: "CrashLoopBackOff").`, c.ns)
	eventually(t, 2*time.Minute, func() string {
		_, body := get(t, base+"/api/v1/alerts")
		var r struct {
			Data struct {
				Alerts []struct {
					Labels      map[string]string `json:"labels"`
					Annotations map[string]string `json:"annotations"`
					State       string            `json:"state"`
				} `json:"alerts"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return fmt.Sprintf("/api/v1/alerts: %v: %s", err, body)
		}
		crash, watchdog := false, false
		for _, a := range r.Data.Alerts {
			crash = crash || a.Labels["alertname"] == "KubePodCrashLooping" && a.Labels["namespace"] == c.ns &&
				a.State == "firing" && a.Annotations["description"] == want
			watchdog = watchdog || a.Labels["alertname"] == "Watchdog" && a.State == "firing"
		}
		if !crash || !watchdog {
			return fmt.Sprintf("want KubePodCrashLooping firing with description %q (%v) and Watchdog firing (%v):\n%s", want, crash, watchdog, body)
		}
		return ""
	})
	q := url.QueryEscape(`ALERTS{alertname="KubePodCrashLooping", alertstate="firing", namespace="` + c.ns + `"}`)
	if _, body := get(t, base+"/api/v1/query?query="+q); !bytes.Contains(body, []byte(`"pod":"crashy"`)) {
		t.Errorf("no ALERTS series of the firing KubePodCrashLooping: %s", body)
	}
}

// TestKubePromRulesPromtool: Prometheus v0.316.0's promtool accepts the
// same rule files (`promtool check rules`) and passes the unit tests of two
// recording rules (`promtool test rules`).
func TestKubePromRulesPromtool(t *testing.T) {
	t.Parallel()
	promtool := cachedPeer(t, "prometheus-v*/promtool")
	ruleFiles, _ := kpRuleFiles(t)
	paths, err := filepath.Glob(ruleFiles[0])
	if err != nil {
		t.Fatal(err)
	}
	out := runPromtool(t, promtool, append([]string{"check", "rules"}, append(paths, ruleFiles[1])...)...)
	if strings.Count(out, "SUCCESS") != len(paths)+1 {
		t.Errorf("promtool check rules: not every file succeeded:\n%s", out)
	}
	tests, err := filepath.Abs(filepath.Join(kpRulesDir, "tests", "recording.test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	t.Log(runPromtool(t, promtool, "test", "rules", tests))
}

// TestKubePromDeployJobNames: deploy/server's prometheus.yml, run against
// the real API server with deploy/server's RBAC, gives the agent's and the
// state exporter's endpoints kube-prometheus' job names and labels: the
// agent's host metrics as job="node-exporter" (instance = node, the agent
// pod's namespace and pod), its container metrics as job="kubelet" with
// metrics_path="/metrics/cadvisor" (each from the agent's /metrics with
// node_exporter's exclude[]/collect[] parameters), and panoptes state's
// two ports as job="kube-state-metrics" and no longer through the
// prometheus.io annotations. The endpoints are documentation addresses
// (the API refuses loopback ones): the targets are discovered and
// relabelled, not scraped; TestKubePromRulesEvaluate scrapes the same jobs.
func TestKubePromDeployJobNames(t *testing.T) {
	t.Parallel()
	env := k8s.Start(t)
	sfx := uniqueSuffix()
	ns, node, agentPod, statePod := "kpdeploy-"+sfx, "kpdeploy-node-"+sfx, "panoptes-agent-x"+sfx[:4], "panoptes-state-y"+sfx[:4]
	env.Call(t, 201, "POST", "/api/v1/namespaces", "", map[string]any{"metadata": map[string]any{"name": ns}})
	for _, pod := range []string{agentPod, statePod} {
		env.Call(t, 201, "POST", "/api/v1/namespaces/"+ns+"/pods", "", map[string]any{
			"metadata": map[string]any{"name": pod},
			"spec":     map[string]any{"nodeName": node, "containers": []any{map[string]any{"name": "main", "image": "example.invalid/panoptes"}}},
		})
	}
	service := func(name, ip, pod string, ports map[string]int, annotations map[string]string) {
		var sp, ep []any
		for n, p := range ports {
			sp = append(sp, map[string]any{"name": n, "port": p})
			ep = append(ep, map[string]any{"name": n, "port": p})
		}
		env.Call(t, 201, "POST", "/api/v1/namespaces/"+ns+"/services", "", map[string]any{
			"metadata": map[string]any{"name": name, "annotations": annotations},
			"spec":     map[string]any{"clusterIP": "None", "ports": sp},
		})
		env.Call(t, 201, "POST", "/api/v1/namespaces/"+ns+"/endpoints", "", map[string]any{
			"metadata": map[string]any{"name": name},
			"subsets": []any{map[string]any{
				"addresses": []any{map[string]any{"ip": ip, "nodeName": node,
					"targetRef": map[string]any{"kind": "Pod", "name": pod, "namespace": ns}}},
				"ports": ep,
			}},
		})
	}
	// Ports of this run's own: the control plane outlives a run (-count=3),
	// and targets of earlier runs' endpoints with the same address would
	// be merged with this run's (same labels) in the scrape pools.
	port := 10000 + int(time.Now().UnixNano()/1000%50000)
	agentAddr := fmt.Sprintf("192.0.2.41:%d", port)
	stateAddr, telemetryAddr := fmt.Sprintf("192.0.2.42:%d", port+1), fmt.Sprintf("192.0.2.42:%d", port+2)
	service("panoptes-agent", "192.0.2.41", agentPod, map[string]int{"metrics": port}, nil)
	service("panoptes-state", "192.0.2.42", statePod, map[string]int{"http-metrics": port + 1, "telemetry": port + 2},
		map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": strconv.Itoa(port + 1)})

	b, err := os.ReadFile("../../deploy/server/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.ReplaceAll(string(b), "      - role: ", "      - kubeconfig_file: "+serverKubeconfig(t, env)+"\n        role: ")
	path := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	_, base := startServer(t, "--config.file="+path)

	type target struct {
		Labels           map[string]string `json:"labels"`
		DiscoveredLabels map[string]string `json:"discoveredLabels"`
		ScrapeURL        string            `json:"scrapeUrl"`
	}
	want := map[string]target{
		"node-exporter": {Labels: map[string]string{"job": "node-exporter", "instance": node, "node": node, "namespace": ns, "pod": agentPod},
			ScrapeURL: "http://" + agentAddr + "/metrics?exclude%5B%5D=container"},
		"kubelet": {Labels: map[string]string{"job": "kubelet", "instance": agentAddr, "node": node, "metrics_path": "/metrics/cadvisor"},
			ScrapeURL: "http://" + agentAddr + "/metrics?collect%5B%5D=container"},
		"kube-state-metrics/http-metrics": {Labels: map[string]string{"job": "kube-state-metrics", "instance": stateAddr},
			ScrapeURL: "http://" + stateAddr + "/metrics"},
		"kube-state-metrics/telemetry": {Labels: map[string]string{"job": "kube-state-metrics", "instance": telemetryAddr},
			ScrapeURL: "http://" + telemetryAddr + "/metrics"},
	}
	eventually(t, 2*time.Minute, func() string {
		_, body := get(t, base+"/api/v1/targets?state=active")
		var r struct {
			Data struct {
				ActiveTargets []target `json:"activeTargets"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return fmt.Sprintf("targets: %v: %s", err, body)
		}
		got := map[string]target{}
		for _, tg := range r.Data.ActiveTargets {
			if tg.DiscoveredLabels["__meta_kubernetes_namespace"] != ns {
				continue // another test's (or run's) endpoints
			}
			key := tg.Labels["job"]
			if key == "kube-state-metrics" || key == "kubernetes-service-endpoints" {
				key += "/" + tg.DiscoveredLabels["__meta_kubernetes_endpoint_port_name"]
			}
			got[key] = tg
		}
		var problems []string
		for key, w := range want {
			g, ok := got[key]
			if !ok {
				problems = append(problems, key+": no target")
				continue
			}
			if g.ScrapeURL != w.ScrapeURL {
				problems = append(problems, fmt.Sprintf("%s: scrape URL %s, want %s", key, g.ScrapeURL, w.ScrapeURL))
			}
			if g.Labels["job"] == "kubelet" || g.Labels["job"] == "node-exporter" {
				// The whole label set: nothing else is added.
				if fmt.Sprint(g.Labels) != fmt.Sprint(w.Labels) {
					problems = append(problems, fmt.Sprintf("%s: labels %v, want %v", key, g.Labels, w.Labels))
				}
				continue
			}
			for k, v := range w.Labels {
				if g.Labels[k] != v {
					problems = append(problems, fmt.Sprintf("%s: %s=%q, want %q (labels %v)", key, k, g.Labels[k], v, g.Labels))
				}
			}
		}
		for key := range got {
			if _, ok := want[key]; !ok {
				problems = append(problems, fmt.Sprintf("unexpected target %s: %v", key, got[key]))
			}
		}
		return strings.Join(problems, "\n")
	})
}
