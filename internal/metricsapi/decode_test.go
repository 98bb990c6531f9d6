package metricsapi

import (
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestDecodeKubeletGolden decodes the kubelet-shaped golden file that
// internal/kubelet serves: the coredns pod has a container with a zero
// working set, so the whole pod is left out, as metrics-server does.
func TestDecodeKubeletGolden(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../kubelet/testdata/resource.prom")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := decodeResource(b, time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	ms := func(v int64) int64 { return v * int64(time.Millisecond) }
	wantNode := point{ts: ms(1777629600123), cpu: 123456789012345, mem: 6442450944}
	if sc.node != wantNode || !sc.nodeOK {
		t.Errorf("node %+v ok=%v, want %+v", sc.node, sc.nodeOK, wantNode)
	}
	web := podKey{"default", "web-0"}
	want := []containerPoint{
		{pod: web, name: "app", point: point{start: 1777626002500000000, ts: ms(1777629600125), cpu: 250250000000, mem: 188743680}},
		{pod: web, name: "sidecar", point: point{start: 1777626003000000000, ts: ms(1777629600126), cpu: 50125000000, mem: 19922944}},
	}
	if diff := cmp.Diff(want, sc.containers, cmp.AllowUnexported(containerPoint{}, point{}, podKey{})); diff != "" {
		t.Errorf("containers (-want +got):\n%s", diff)
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		wantErr  bool
		nodeOK   bool
	}{
		{"empty", "", false, false},
		{"html", "<html><body>hello</body></html>", true, false},
		{"no timestamps", "node_cpu_usage_seconds_total 10\nnode_memory_working_set_bytes 20\n", false, true},
		{"zero memory", "node_cpu_usage_seconds_total 10\nnode_memory_working_set_bytes 0\n", false, false},
		{"NaN cpu", "node_cpu_usage_seconds_total NaN\nnode_memory_working_set_bytes 20\n", false, false},
		{"negative", "node_cpu_usage_seconds_total -5\nnode_memory_working_set_bytes 20\n", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sc, err := decodeResource([]byte(tc.in), time.Unix(100, 0))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err == nil && sc.nodeOK != tc.nodeOK {
				t.Errorf("nodeOK %v, want %v (%+v)", sc.nodeOK, tc.nodeOK, sc.node)
			}
			if err == nil && tc.nodeOK && sc.node.ts != int64(100*time.Second) {
				t.Errorf("node timestamp %d, want the default time", sc.node.ts)
			}
		})
	}
}

// FuzzDecodeResource feeds arbitrary bodies, as a hostile or broken kubelet
// could send: no panic, and what is kept is complete.
func FuzzDecodeResource(f *testing.F) {
	if b, err := os.ReadFile("../kubelet/testdata/resource.prom"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("container_cpu_usage_seconds_total{container=\"a\",pod=\"p\",namespace=\"n\"} 1 2\ncontainer_memory_working_set_bytes{container=\"a\",pod=\"p\",namespace=\"n\"} 1 2\n"))
	f.Add([]byte("node_cpu_usage_seconds_total 1e300 -5\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 {
			return
		}
		sc, err := decodeResource(b, time.Unix(1, 0))
		if err != nil {
			return
		}
		for _, c := range sc.containers {
			if c.cpu == 0 || c.mem == 0 || c.ts == 0 {
				t.Fatalf("incomplete container kept: %+v", c)
			}
		}
	})
}
