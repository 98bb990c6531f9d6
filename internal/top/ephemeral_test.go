package top

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestAgentEphemeralStorage reads a fake agent whose /stats/summary has the
// pods' ephemeral storage and the containers' rootfs and logs: the column
// shows them, and a pod the summary has no figure for reads <unknown>.
func TestAgentEphemeralStorage(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stats/summary" {
			fmt.Fprint(w, `{"node":{"nodeName":"h"},"pods":[
 {"podRef":{"name":"web","namespace":"ns","uid":"u1"},
  "containers":[{"name":"app","rootfs":{"time":null,"usedBytes":10485760},"logs":{"time":null,"usedBytes":5242880}}],
  "ephemeral-storage":{"time":null,"usedBytes":16777216}},
 {"podRef":{"name":"db","namespace":"ns","uid":"u2"},"containers":[{"name":"pg"}]}]}`)
			return
		}
		i := n.Add(1) - 1
		ts := 1000000 + i*2000
		for _, c := range []string{`container="app",namespace="ns",pod="web"`, `container="pg",namespace="ns",pod="db"`} {
			fmt.Fprintf(w, "container_cpu_usage_seconds_total{%s} %v %d\n", c, 10+float64(i)*0.5, ts)
			fmt.Fprintf(w, "container_memory_working_set_bytes{%s} 1048576 %d\n", c, ts)
		}
	}))
	defer srv.Close()
	a := &Agent{URL: srv.URL, Client: srv.Client(), Interval: time.Millisecond}
	for _, tc := range []struct {
		containers bool
		want       []string
	}{
		{false, []string{"NAME   CPU(cores)   MEMORY(bytes)   EPHEMERAL-STORAGE(bytes)", "db     250m         1Mi             <unknown>", "web    250m         1Mi             16Mi"}},
		{true, []string{"POD   NAME   CPU(cores)   MEMORY(bytes)   EPHEMERAL-STORAGE(bytes)", "db    pg     250m         1Mi             <unknown>", "web   app    250m         1Mi             15Mi"}},
	} {
		rows, err := a.Pods(context.Background(), tc.containers, Options{Namespace: "ns"})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := PrintPods(&b, rows, tc.containers, Options{}); err != nil {
			t.Fatal(err)
		}
		for _, line := range tc.want {
			if !strings.Contains(b.String(), line) {
				t.Errorf("containers=%v: no line %q in:\n%s", tc.containers, line, b.String())
			}
		}
	}
}
