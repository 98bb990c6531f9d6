package ui

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// kubeSeries is a small cluster as kube-state-metrics (and `panoptes state`,
// compatible by name) exports it: two nodes, pods in two namespaces, one
// crash-looping container, one deployment short of replicas.
func kubeSeries() []map[string]string {
	s := func(kv ...string) map[string]string {
		m := map[string]string{"job": "kube-state-metrics", "instance": "ksm:8080"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	var out []map[string]string
	for _, n := range []string{"node-a", "node-b"} {
		// The agents' root cgroups, labelled with their node by the scrape config.
		a := func(kv ...string) map[string]string {
			m := map[string]string{"job": "node", "instance": n + ":9100", "node": n, "id": "/"}
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i]] = kv[i+1]
			}
			return m
		}
		out = append(out,
			a("__name__", "container_cpu_usage_seconds_total"),
			a("__name__", "container_memory_working_set_bytes"),
			s("__name__", "kube_node_info", "node", n, "kubelet_version", "v1.37.2"),
			s("__name__", "kube_node_status_condition", "node", n, "condition", "Ready", "status", "true"),
			s("__name__", "kube_node_status_capacity", "node", n, "resource", "cpu", "unit", "core"),
			s("__name__", "kube_node_status_allocatable", "node", n, "resource", "cpu", "unit", "core"),
			s("__name__", "kube_node_status_capacity", "node", n, "resource", "memory", "unit", "byte"),
			s("__name__", "kube_node_status_allocatable", "node", n, "resource", "memory", "unit", "byte"),
			s("__name__", "kube_node_status_allocatable", "node", n, "resource", "pods", "unit", "integer"),
		)
	}
	pods := []struct{ ns, pod, node, phase string }{
		{"shop", "web-1", "node-a", "Running"},
		{"shop", "web-2", "node-b", "Running"},
		{"shop", "web-3", "node-b", "Pending"},
		{"batch", "crasher", "node-a", "Running"},
	}
	for _, p := range pods {
		out = append(out,
			s("__name__", "kube_pod_info", "namespace", p.ns, "pod", p.pod, "node", p.node),
			s("__name__", "kube_pod_status_phase", "namespace", p.ns, "pod", p.pod, "phase", p.phase),
			s("__name__", "kube_pod_container_status_restarts_total", "namespace", p.ns, "pod", p.pod, "container", "main"),
			s("__name__", "kube_pod_container_resource_requests", "namespace", p.ns, "pod", p.pod, "container", "main", "node", p.node, "resource", "cpu", "unit", "core"),
			s("__name__", "kube_pod_container_resource_limits", "namespace", p.ns, "pod", p.pod, "container", "main", "node", p.node, "resource", "memory", "unit", "byte"),
		)
	}
	out = append(out,
		s("__name__", "kube_pod_container_status_waiting_reason", "namespace", "batch", "pod", "crasher", "container", "main", "reason", "CrashLoopBackOff"),
		s("__name__", "kube_deployment_spec_replicas", "namespace", "shop", "deployment", "web"),
		s("__name__", "kube_deployment_status_replicas_available", "namespace", "shop", "deployment", "web"),
	)
	return out
}

// kubeValue is the value of a series at sample i (0..3).
func kubeValue(m map[string]string, i int) float64 {
	switch m["__name__"] {
	case "container_cpu_usage_seconds_total":
		return 1000 + 1.5*15*float64(i) // 1.5 cores busy
	case "container_memory_working_set_bytes":
		return 6 << 30
	case "kube_node_status_capacity", "kube_node_status_allocatable":
		switch m["resource"] {
		case "cpu":
			return 4
		case "memory":
			return 16 << 30
		default:
			return 110
		}
	case "kube_pod_container_status_restarts_total":
		if m["pod"] == "crasher" {
			return float64(3 + i) // restarting now
		}
		return 0
	case "kube_pod_container_resource_requests":
		return 0.25
	case "kube_pod_container_resource_limits":
		return 512 << 20
	case "kube_deployment_spec_replicas":
		return 3
	case "kube_deployment_status_replicas_available":
		return 2
	}
	return 1
}

// pushKube remote-writes the cluster's series, four samples 15 s apart
// ending now, into the server's /api/v1/write.
func pushKube(t *testing.T, s *server) {
	t.Helper()
	now := time.Now().Add(-time.Second).UnixMilli()
	var req prompb.WriteRequest
	for _, m := range kubeSeries() {
		ts := prompb.TimeSeries{}
		for k, v := range m {
			ts.Labels = append(ts.Labels, prompb.Label{Name: k, Value: v})
		}
		for i := 0; i < 4; i++ {
			ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: now - int64(3-i)*15000, Value: kubeValue(m, i)})
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	write(t, s, &req)
}

// write posts one remote-write 1.0 request to the server.
func write(t *testing.T, s *server, req *prompb.WriteRequest) {
	t.Helper()
	raw, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url("/api/v1/write"), bytes.NewReader(snappy.Encode(nil, raw)))
	if err != nil {
		t.Fatal(err)
	}
	hreq.Header.Set("Content-Type", "application/x-protobuf")
	hreq.Header.Set("Content-Encoding", "snappy")
	hreq.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("remote write: %s", resp.Status)
	}
}

// TestKubernetes: the Kubernetes page is listed once kube_* metrics exist,
// and its tables show the cluster's nodes, pods by phase, the crash-looping
// container, the deployment short of replicas and requests per namespace.
// podContainer is a cgroup of a pod as the agents report it with the CRI's
// names: cores of CPU it burns and bytes of memory it holds.
type podContainer struct {
	ns, pod, container, id string
	cores                  float64
	mem                    float64
}

var podContainers = []podContainer{
	// web-1: two containers and no pod-level cgroup reported.
	{"shop", "web-1", "main", "/kubepods/burstable/pod1111/aaaa", 0.5, 100 << 20},
	{"shop", "web-1", "sidecar", "/kubepods/burstable/pod1111/bbbb", 0.1, 20 << 20},
	// crasher: its pod-level cgroup (container="") holds its one container.
	{"batch", "crasher", "", "/kubepods/burstable/pod2222", 0.2, 50 << 20},
	{"batch", "crasher", "main", "/kubepods/burstable/pod2222/cccc", 0.2, 50 << 20},
}

// pushPodContainers remote-writes their CPU and memory series, a sample
// every 5 s for a minute up to now.
func pushPodContainers(t *testing.T, s *server) {
	t.Helper()
	now := time.Now().Add(-time.Second).UnixMilli()
	var req prompb.WriteRequest
	for _, c := range podContainers {
		labels := func(name string) []prompb.Label {
			ls := []prompb.Label{{Name: "__name__", Value: name}, {Name: "job", Value: "node"}, {Name: "instance", Value: "node-a:9100"},
				{Name: "id", Value: c.id}, {Name: "namespace", Value: c.ns}, {Name: "pod", Value: c.pod}}
			if c.container != "" {
				ls = append(ls, prompb.Label{Name: "container", Value: c.container}, prompb.Label{Name: "name", Value: c.pod + "_" + c.container}, prompb.Label{Name: "image", Value: "example/" + c.container + ":1"})
			}
			return ls
		}
		cpu := prompb.TimeSeries{Labels: labels("container_cpu_usage_seconds_total")}
		mem := prompb.TimeSeries{Labels: labels("container_memory_working_set_bytes")}
		for i := 0; i <= 12; i++ {
			ts := now - int64(12-i)*5000
			cpu.Samples = append(cpu.Samples, prompb.Sample{Timestamp: ts, Value: 100 + c.cores*5*float64(i)})
			mem.Samples = append(mem.Samples, prompb.Sample{Timestamp: ts, Value: c.mem})
		}
		req.Timeseries = append(req.Timeseries, cpu, mem)
	}
	write(t, s, &req)
}

func TestKubernetes(t *testing.T) {
	requireChromium(t)
	s := startServer(t)
	b := newBrowser(t, 1400, 1000)
	b.open(s.url("/#/d/overview?range=5m"))
	if eval[bool](b, `!!document.querySelector('nav a[href^="#/d/kubernetes"]')`) {
		t.Error("the Kubernetes page is listed before any kube_* metric exists")
	}
	pushKube(t, s)
	b.open(s.url("/#/d/overview?range=5m"))
	b.poll(`!!document.querySelector('nav a[href^="#/d/kubernetes"]')`, time.Minute)
	b.open(s.url("/#/d/kubernetes?range=5m"))
	for _, p := range eval[[]panelState](b, `window.__panoptes.panels`) {
		if p.State != "ok" {
			t.Errorf("panel %q: %s %s", p.Title, p.State, p.Error)
		}
	}
	table := func(title string) string {
		return eval[string](b, `(() => { const e = document.querySelector('section.panel[data-title="`+title+`"] table'); return e ? e.innerText : ""; })()`)
	}
	checks := map[string][]string{
		"Nodes":                       {"node-a", "node-b", "4 cores", "16 GiB"},
		"Pods by phase per namespace": {"shop", "batch"},
		"Restarting and crash-looping containers":         {"crasher", "6"},
		"Workloads not at their desired replicas":         {"deployment/web", "3", "2"},
		"Requests and limits against usage per namespace": {"shop", "750m", "1.5 GiB"},
	}
	for title, wants := range checks {
		got := table(title)
		for _, w := range wants {
			if !strings.Contains(got, w) {
				t.Errorf("%s lacks %q:\n%s", title, w, got)
			}
		}
	}
	b.screenshot("kubernetes")

	// The containers of the pods, grouped by pod: a pod's own cgroup when
	// it is reported, else the sum of its containers, with the restarts of
	// kube-state-metrics.
	pushPodContainers(t, s)
	b.open(s.url("/#/containers?range=5m&group=pod"))
	rows := eval[[][]string](b, `[...document.querySelectorAll('table.data tbody tr')].map(r => [...r.cells].map(c => c.innerText))`)
	got := map[string][]string{}
	for _, r := range rows {
		got[r[0]] = r
	}
	for pod, want := range map[string][3]string{"web-1": {"600m", "120 MiB", "0"}, "crasher": {"200m", "50 MiB", "6"}} {
		r := got[pod]
		// Name, namespace/pod, instance, CPU, trend, CPU % limit, memory, % limit, restarts.
		if len(r) < 9 || r[3] != want[0] || r[6] != want[1] || r[8] != want[2] {
			t.Errorf("pod %s: row %q, want CPU %s, memory %s, restarts %s", pod, r, want[0], want[1], want[2])
		}
	}
	if len(rows) != 2 {
		t.Errorf("grouped by pod: %d rows, want 2: %q", len(rows), rows)
	}
	b.screenshot("containers-by-pod")
	// ready goes false first, so that waitReady waits for the pod page, not
	// the table page still shown until the hashchange event renders it.
	b.do(chromedp.Evaluate[chromedp.Void](`window.__panoptes.ready = false`))
	b.do(chromedp.Click(chromedp.CSS(`table.data tbody tr`)))
	b.poll(`location.hash.startsWith("#/d/pod")`, time.Minute)
	b.waitReady()
	cpu := eval[int](b, `window.__panoptes.panels.find(p => p.title === "CPU per container").series`)
	if cpu < 1 {
		t.Errorf("the pod page draws %d series of CPU per container", cpu)
	}
	b.screenshot("pod")
	b.noPageErrors()
}
