package state

import (
	"flag"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/kube-state-metrics/v2/pkg/options"
)

var update = flag.Bool("update", false, "rewrite deploy/state/clusterrole.yaml from the resource list")

// TestClusterRole: deploy/state's ClusterRole is exactly the least rules
// for the default resources (list and watch, nothing else).
func TestClusterRole(t *testing.T) {
	const path = "../../deploy/state/clusterrole.yaml"
	want := ClusterRoleYAML("panoptes-state", DefaultResources())
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("%s drifted from the resource list (-want +got); run go test ./internal/state -run TestClusterRole -update:\n%s", path, diff)
	}
}

// TestResourceTable: the table names every resource kube-state-metrics'
// default set has, and each kind once.
func TestResourceTable(t *testing.T) {
	for r := range options.DefaultResources {
		if _, ok := resources[r]; !ok {
			t.Errorf("default resource %s missing from the table", r)
		}
	}
	kinds := map[string]string{}
	for name, r := range resources {
		if other, dup := kinds[r.kind]; dup {
			t.Errorf("kind %s for both %s and %s", r.kind, name, other)
		}
		kinds[r.kind] = name
	}
	if err := CheckResources([]string{"pods", "podz"}); err == nil {
		t.Error("CheckResources accepted podz")
	}
	rules := RBACRules([]string{"pods", "deployments", "nodes", "pods"})
	want := []Rule{
		{APIGroups: []string{""}, Resources: []string{"nodes", "pods"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"list", "watch"}},
	}
	if diff := cmp.Diff(want, rules); diff != "" {
		t.Errorf("RBACRules (-want +got):\n%s", diff)
	}
}

type fakeLW struct {
	w    *watch.FakeWatcher
	list error
}

func (f *fakeLW) List(metav1.ListOptions) (runtime.Object, error) {
	if f.list != nil {
		return nil, f.list
	}
	return &v1.PodList{Items: []v1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "a", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "x"}}}}}}, nil
}

func (f *fakeLW) Watch(metav1.ListOptions) (watch.Interface, error) { return f.w, nil }

var _ cache.ListerWatcher = (*fakeLW)(nil)

// TestStaleness: 0 while a watch is open, growing after it closes, 0
// again once a new one opens; managedFields are stripped on the way.
func TestStaleness(t *testing.T) {
	now := time.Unix(1000, 0)
	tr := newTracker()
	tr.now = func() time.Time { return now }
	f := &fakeLW{w: watch.NewFake()}
	lw := &trackedListWatch{lw: f, name: "pods", tracker: tr, strip: true}
	obj, err := lw.List(metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if mf := obj.(*v1.PodList).Items[0].ManagedFields; mf != nil {
		t.Errorf("listed object kept managedFields %v", mf)
	}
	w, err := lw.Watch(metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	if s := tr.staleness("pods"); s != 0 {
		t.Errorf("staleness with an open watch %v, want 0", s)
	}
	go f.w.Add(&v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "b", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "x"}}}})
	ev := <-w.ResultChan()
	if ev.Object.(*v1.Pod).ManagedFields != nil {
		t.Error("watched object kept managedFields")
	}
	f.w.Stop() // the API server goes away
	if _, ok := <-w.ResultChan(); ok {
		t.Fatal("event after the stream ended")
	}
	// closed() runs just after the channel closes: wait for it.
	deadline := time.Now().Add(5 * time.Second)
	for tr.watchUp("pods") && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	now = now.Add(42 * time.Second)
	if s := tr.staleness("pods"); s != 42 {
		t.Errorf("staleness 42 s after the watch closed: %v", s)
	}
	f.w = watch.NewFake()
	w2, _ := lw.Watch(metav1.ListOptions{})
	defer w2.Stop()
	if s := tr.staleness("pods"); s != 0 {
		t.Errorf("staleness after the watch resumed %v, want 0", s)
	}
	tr.disable("secrets", "forbidden")
	if got := tr.unsynced(); len(got) != 0 {
		sort.Strings(got)
		t.Errorf("unsynced %v, want none (disabled resources do not count)", got)
	}
}

// TestTrackedWatchStopUnblocks: Stop while an event waits to be taken
// ends the forwarding goroutine (no leak, no deadlock).
func TestTrackedWatchStopUnblocks(t *testing.T) {
	fw := watch.NewFakeWithChanSize(1, false)
	closed := make(chan struct{})
	w := newTrackedWatch(fw, false, func() { close(closed) })
	fw.Add(&v1.Pod{})
	time.Sleep(10 * time.Millisecond)
	w.Stop()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("forwarder still running after Stop")
	}
}

func TestParseCustomResourceConfig(t *testing.T) {
	for _, bad := range []string{
		"spec: {resources: [{groupVersionKind: {version: v1, kind: Foo}}]}",
		"spec: {resources: [{groupVersionKind: {group: '*', version: v1, kind: Foo}}]}",
		"spec: {resourcez: []}",
		"spec: [",
	} {
		if _, err := ParseCustomResourceConfig(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	m, err := ParseCustomResourceConfig(`spec:
  resources:
    - groupVersionKind: {group: example.com, version: v1, kind: Foo}
      metrics:
        - name: ready
          help: ready
          each: {type: Gauge, gauge: {path: [status, ready]}}
`)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Spec.Resources[0].Metrics[0].Each.Type; got != "gauge" {
		t.Errorf("type %q, want gauge (case-insensitive as kube-state-metrics)", got)
	}
}

func FuzzParseCustomResourceConfig(f *testing.F) {
	f.Add("spec: {resources: [{groupVersionKind: {group: a, version: v1, kind: Foo}}]}")
	f.Add("spec: [")
	f.Fuzz(func(_ *testing.T, s string) {
		_, _ = ParseCustomResourceConfig(s)
	})
}
