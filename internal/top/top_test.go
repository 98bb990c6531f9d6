package top

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

func TestPrintNodesAndSort(t *testing.T) {
	t.Parallel()
	q := resource.MustParse
	rows := []Row{
		{Name: "b", CPU: q("1500m"), Memory: q("1Gi"), CPUAvail: q("4"), MemAvail: q("8Gi")},
		{Name: "a", CPU: q("250m"), Memory: q("3Gi"), CPUAvail: q("4"), MemAvail: q("8Gi")},
		{Name: "c", Unknown: true},
	}
	var b bytes.Buffer
	if err := PrintNodes(&b, rows, Options{SortBy: "memory"}); err != nil {
		t.Fatal(err)
	}
	want := `NAME   CPU(cores)   CPU(%)      MEMORY(bytes)   MEMORY(%)   
a      250m         6%          3072Mi          37%         
b      1500m        37%         1024Mi          12%         
c      <unknown>    <unknown>   <unknown>       <unknown>   
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	if err := PrintNodes(&b, rows, Options{SortBy: "size"}); err == nil {
		t.Error("--sort-by=size accepted")
	}
}

// TestAgentRates reads a fake agent whose cumulative CPU grows by a known
// amount between the two reads.
func TestAgentRates(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			fmt.Fprint(w, "machine_cpu_cores 8\nmachine_memory_bytes 1.6e+10\n")
			return
		}
		i := n.Add(1) - 1
		ts := 1000000 + i*2000 // two seconds apart
		fmt.Fprintf(w, "node_cpu_usage_seconds_total %d %d\nnode_memory_working_set_bytes 4294967296 %d\n", 100+i*4, ts, ts)
		fmt.Fprintf(w, "container_cpu_usage_seconds_total{container=\"app\",namespace=\"ns\",pod=\"web\"} %v %d\n", 10+float64(i)*0.5, ts)
		fmt.Fprintf(w, "container_memory_working_set_bytes{container=\"app\",namespace=\"ns\",pod=\"web\"} 1048576 %d\n", ts)
	}))
	defer srv.Close()
	a := &Agent{URL: srv.URL, Client: srv.Client(), Interval: time.Millisecond}
	nodes, err := a.Nodes(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := PrintNodes(&b, nodes, Options{NoHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(b.String()); len(f) != 5 || f[1] != "2000m" || f[2] != "25%" || f[3] != "4096Mi" || f[4] != "26%" {
		t.Errorf("node row %q, want 2 cores (25%% of 8) and 4096Mi", b.String())
	}
	pods, err := a.Pods(context.Background(), true, Options{AllNamespaces: true})
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := PrintPods(&b, pods, true, Options{AllNamespaces: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "NAMESPACE   POD   NAME   CPU(cores)   MEMORY(bytes)") || !strings.Contains(b.String(), "ns          web   app    250m         1Mi") {
		t.Errorf("containers:\n%s", b.String())
	}
	if _, err := a.Pods(context.Background(), false, Options{Namespace: "other"}); !errors.Is(err, ErrNoMetrics) {
		t.Errorf("other namespace: %v, want ErrNoMetrics", err)
	}
}

// TestAgentWithoutKubeletEndpoints: an agent started without
// --web.enable-kubelet-endpoints answers 404 on /metrics/resource, and the
// error names the flag.
func TestAgentWithoutKubeletEndpoints(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			fmt.Fprint(w, "machine_cpu_cores 8\nmachine_memory_bytes 1.6e+10\n")
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	a := &Agent{URL: srv.URL, Client: srv.Client(), Interval: time.Millisecond}
	_, err := a.Nodes(context.Background(), Options{})
	if err == nil || !strings.Contains(err.Error(), "--web.enable-kubelet-endpoints") {
		t.Fatalf("error %v, want one naming --web.enable-kubelet-endpoints", err)
	}
}
