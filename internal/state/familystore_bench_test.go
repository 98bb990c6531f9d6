package state

import (
	"bufio"
	"fmt"
	"io"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	kresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/kube-state-metrics/v2/pkg/builder"
	"k8s.io/kube-state-metrics/v2/pkg/metric"
	generator "k8s.io/kube-state-metrics/v2/pkg/metric_generator"
	metricsstore "k8s.io/kube-state-metrics/v2/pkg/metrics_store"
)

// benchPod is a running pod as bench/state creates them.
func benchPod(i int) *v1.Pod {
	now := metav1.NewTime(time.Unix(1_700_000_000, 0))
	dep := fmt.Sprintf("dep-%d", i%1000)
	t := true
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i), Namespace: fmt.Sprintf("bench-%d", i%10),
			UID:             types.UID(fmt.Sprintf("10000000-0000-0000-0000-%012d", i)),
			ResourceVersion: "1", CreationTimestamp: now,
			Labels:          map[string]string{"app": dep, "pod-template-hash": "5d8f9c7b6"},
			Annotations:     map[string]string{"kubectl.kubernetes.io/restartedAt": now.Format(time.RFC3339)},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: dep + "-5d8f9c7b6", Controller: &t}}},
		Spec: v1.PodSpec{NodeName: fmt.Sprintf("bench-node-%d", i%100), Containers: []v1.Container{{Name: "app", Image: "registry.example.com/app:1.2.3",
			Resources: v1.ResourceRequirements{
				Requests: v1.ResourceList{v1.ResourceCPU: kresource.MustParse("100m"), v1.ResourceMemory: kresource.MustParse("128Mi")},
				Limits:   v1.ResourceList{v1.ResourceMemory: kresource.MustParse("256Mi")}},
			Ports: []v1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		Status: v1.PodStatus{Phase: v1.PodRunning, QOSClass: v1.PodQOSBurstable, StartTime: &now, HostIP: "10.0.0.1",
			PodIP: fmt.Sprintf("10.%d.%d.%d", 1+i/65536, (i/256)%256, i%256),
			Conditions: []v1.PodCondition{
				{Type: v1.PodScheduled, Status: v1.ConditionTrue, LastTransitionTime: now},
				{Type: v1.PodInitialized, Status: v1.ConditionTrue, LastTransitionTime: now},
				{Type: v1.ContainersReady, Status: v1.ConditionTrue, LastTransitionTime: now},
				{Type: v1.PodReady, Status: v1.ConditionTrue, LastTransitionTime: now},
			},
			ContainerStatuses: []v1.ContainerStatus{{Name: "app", Image: "registry.example.com/app:1.2.3", ImageID: "registry.example.com/app@sha256:0123456789abcdef",
				ContainerID: fmt.Sprintf("containerd://%064d", i), Ready: true, Started: &t, RestartCount: int32(i % 3),
				State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: now}}}}},
	}
}

// ksmFamilies are kube-state-metrics' families of a built-in resource
// with the default filter: their headers and their generator.
func ksmFamilies(tb testing.TB, resource string) (headers []string, generate func(any) []metric.FamilyInterface) {
	tb.Helper()
	filter, err := NewOptions().familyFilter()
	if err != nil {
		tb.Fatal(err)
	}
	b := builder.NewBuilder()
	b.WithFamilyGeneratorFilter(filter)
	b.WithGenerateStoresFunc(func(families []generator.FamilyGenerator, _ any,
		_ func(kubernetes.Interface, string, string) cache.ListerWatcher, _ bool, _ int64,
	) []cache.Store {
		families = generator.FilterFamilyGenerators(filter, families)
		headers, generate = generator.ExtractMetricFamilyHeaders(families), generator.ComposeMetricGenFuncs(families)
		return []cache.Store{metricsstore.NewMetricsStore(headers, generate)}
	})
	if err := b.WithEnabledResources([]string{resource}); err != nil {
		tb.Fatal(err)
	}
	b.Build()
	return headers, generate
}

// BenchmarkWriteAll writes the families of 10,000 pods as bench/state
// creates them through a 256 KiB buffer (as the handler does) into
// io.Discard: kube-state-metrics' store and writer, and ours.
func BenchmarkWriteAll(b *testing.B) {
	headers, generate := ksmFamilies(b, "pods")
	ksm := metricsstore.NewMetricsStore(headers, generate)
	ours := newFamilyStore(headers, generate)
	for i := range 10000 {
		p := benchPod(i)
		if err := ksm.Add(p); err != nil {
			b.Fatal(err)
		}
		if err := ours.Add(p); err != nil {
			b.Fatal(err)
		}
	}
	ksmWriter := metricsstore.NewMetricsWriter("pods", ksm)
	rw := resourceWriter{name: "pods", stores: []*familyStore{ours}, headers: parseHeaders(headers)}
	for _, bc := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{"ksm", ksmWriter.WriteAll},
		{"segments", func(w io.Writer) error { return rw.write(w, false, map[string]bool{}) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cw := &countWriter{}
			if err := bc.write(cw); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			bw := bufio.NewWriterSize(io.Discard, 256<<10)
			for b.Loop() {
				_ = bc.write(bw)
				_ = bw.Flush()
			}
			b.ReportMetric(float64(cw.n), "bytes/scrape")
			b.ReportMetric(float64(cw.calls), "writes/scrape")
		})
	}
}

type countWriter struct{ n, calls int }

func (c *countWriter) Write(p []byte) (int, error) { c.n += len(p); c.calls++; return len(p), nil }
