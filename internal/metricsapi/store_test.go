package metricsapi

import (
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apitypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/metrics/pkg/apis/metrics"

	msstorage "sigs.k8s.io/metrics-server/pkg/storage"
)

// TestStoreMatchesMetricsServer feeds the same cycles to our store and to
// metrics-server's own storage package and compares what both serve: rates,
// windows, timestamps, restarts, fresh containers, vanished pods and nodes,
// points that go back in time.
func TestStoreMatchesMetricsServer(t *testing.T) {
	t.Parallel()
	const resolution = 15 * time.Second
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) int64 { return base.Add(time.Duration(s * float64(time.Second))).UnixNano() }
	ct := func(ns, pod, c string, start, ts float64, cpu, mem uint64) containerPoint {
		return containerPoint{pod: podKey{ns, pod}, name: c, point: point{start: at(start), ts: at(ts), cpu: cpu, mem: mem}}
	}
	cycles := []map[string]*scrape{
		{
			"n1": {nodeOK: true, node: point{ts: at(0), cpu: 1e9, mem: 100}, containers: []containerPoint{
				ct("a", "p1", "c1", -100, 0, 5e9, 10), ct("a", "p1", "c2", -100, 0, 1e9, 20),
				ct("b", "fresh", "c", -12, 0, 12e8, 30),
			}},
			"n2": {nodeOK: true, node: point{ts: at(0), cpu: 2e9, mem: 200}},
		},
		{
			"n1": {nodeOK: true, node: point{ts: at(15), cpu: 16e9, mem: 110}, containers: []containerPoint{
				ct("a", "p1", "c1", -100, 15, 65e8, 11), ct("a", "p1", "c2", -100, 15, 1e9+7, 21),
				ct("b", "fresh", "c", -12, 15, 27e8, 31), ct("b", "new", "c", 14, 15, 1e8, 1),
			}},
			"n2": {nodeOK: true, node: point{ts: at(15), cpu: 2e9 + 1234567, mem: 210}},
		},
		{
			// n2 gone; p1/c1 restarted (start after the stored point); the
			// fresh pod's point did not move.
			"n1": {nodeOK: true, node: point{ts: at(30), cpu: 31e9, mem: 120}, containers: []containerPoint{
				ct("a", "p1", "c1", 20, 30.5, 1e9, 12), ct("a", "p1", "c2", -100, 30, 2e9, 22),
				ct("b", "fresh", "c", -12, 15, 27e8, 31), ct("b", "new", "c", 14, 30, 16e8, 2),
			}},
		},
		{
			"n1": {nodeOK: true, node: point{ts: at(45), cpu: 46e9, mem: 130}, containers: []containerPoint{
				ct("a", "p1", "c1", 20, 45.5, 2e9, 13), ct("a", "p1", "c2", -100, 45, 3e9, 23),
				ct("b", "fresh", "c", -12, 45, 57e8, 32), ct("b", "new", "c", 14, 45, 31e8, 3),
			}},
			"n2": {nodeOK: true, node: point{ts: at(45), cpu: 9e9, mem: 220}},
		},
	}
	ours := NewStore(resolution, slog.New(slog.DiscardHandler))
	theirs := msstorage.NewStorage(resolution)
	nodes := []*corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, {ObjectMeta: metav1.ObjectMeta{Name: "n2"}}, {ObjectMeta: metav1.ObjectMeta{Name: "n3"}}}
	var pods []*metav1.PartialObjectMetadata
	for _, k := range []podKey{{"a", "p1"}, {"b", "fresh"}, {"b", "new"}, {"c", "none"}} {
		pods = append(pods, &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: k.namespace, Name: k.name}})
	}
	served := 0
	for i, cycle := range cycles {
		ours.Update(cycle)
		theirs.Store(toBatch(cycle))

		gotN, _ := ours.GetNodeMetrics(nodes...)
		wantN, _ := theirs.GetNodeMetrics(nodes...)
		if diff := cmp.Diff(normNodes(wantN), normNodes(gotN)); diff != "" {
			t.Errorf("cycle %d nodes (-metrics-server +ours):\n%s", i, diff)
		}
		gotP, _ := ours.GetPodMetrics(pods...)
		wantP, _ := theirs.GetPodMetrics(pods...)
		if diff := cmp.Diff(normPods(wantP), normPods(gotP)); diff != "" {
			t.Errorf("cycle %d pods (-metrics-server +ours):\n%s", i, diff)
		}
		served += len(gotN) + len(gotP)
	}
	if served < 8 {
		t.Errorf("only %d objects served over the cycles: the comparison compared little", served)
	}
	if !ours.Ready() {
		t.Error("store not ready after storing points")
	}
}

func toBatch(cycle map[string]*scrape) *msstorage.MetricsBatch {
	b := &msstorage.MetricsBatch{Nodes: map[string]msstorage.MetricsPoint{}, Pods: map[apitypes.NamespacedName]msstorage.PodMetricsPoint{}}
	mp := func(p point) msstorage.MetricsPoint {
		return msstorage.MetricsPoint{StartTime: time.Unix(0, p.start), Timestamp: time.Unix(0, p.ts), CumulativeCPUUsed: p.cpu, MemoryUsage: p.mem}
	}
	for name, sc := range cycle {
		if sc.nodeOK {
			b.Nodes[name] = mp(sc.node)
		}
		for _, c := range sc.containers {
			k := apitypes.NamespacedName{Namespace: c.pod.namespace, Name: c.pod.name}
			if _, ok := b.Pods[k]; !ok {
				b.Pods[k] = msstorage.PodMetricsPoint{Containers: map[string]msstorage.MetricsPoint{}}
			}
			b.Pods[k].Containers[c.name] = mp(c.point)
		}
	}
	return b
}

type served struct {
	Name, Namespace string
	Timestamp       time.Time
	Window          time.Duration
	Usage           map[string]string
}

func normNodes(ms []metrics.NodeMetrics) []served {
	var out []served
	for _, m := range ms {
		u := map[string]string{}
		for k, v := range m.Usage {
			u[string(k)] = v.String()
		}
		out = append(out, served{Name: m.Name, Timestamp: m.Timestamp.UTC(), Window: m.Window.Duration, Usage: u})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func normPods(ms []metrics.PodMetrics) []served {
	var out []served
	for _, m := range ms {
		u := map[string]string{}
		for _, c := range m.Containers {
			for k, v := range c.Usage {
				u[c.Name+"/"+string(k)] = v.String()
			}
		}
		out = append(out, served{Name: m.Name, Namespace: m.Namespace, Timestamp: m.Timestamp.UTC(), Window: m.Window.Duration, Usage: u})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	return out
}

func TestNanocoresExact(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cpu    uint64
		window time.Duration
		want   uint64
	}{
		{999200000, 9992 * time.Millisecond, 100000000},
		{15 * 64 * 1e9, 15 * time.Second, 64e9}, // 64 busy cores: the product passes 2^64
		{0, time.Second, 0},
		{1 << 63, time.Nanosecond, 1<<64 - 1},
	} {
		if got := nanocores(tc.cpu, tc.window); got != tc.want {
			t.Errorf("nanocores(%d, %v) = %d, want %d", tc.cpu, tc.window, got, tc.want)
		}
	}
}
