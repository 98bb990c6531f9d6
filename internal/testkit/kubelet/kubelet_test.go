package kubelet

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cpuOf reads a container's cumulative CPU (core-seconds) from a render.
func cpuOf(t *testing.T, b []byte, pod string) float64 {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "container_cpu_usage_seconds_total{") && strings.Contains(line, `pod="`+pod+`"`) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no CPU line for pod %s in:\n%s", pod, b)
	return 0
}

// TestApplyKeepsCumulativeCPU checks what Stage promises: at the scrape
// that applies new usage, a kept container's cumulative CPU continues from
// its value then and grows at the new rate; a new container starts as if it
// had run at its rate since the node's Start; a dropped one is gone.
func TestApplyKeepsCumulativeCPU(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	n := &Node{Start: start, Pods: []Pod{
		{Namespace: "ns", Name: "a", Containers: []Container{{Name: "c", MilliCPU: 350}}},
		{Namespace: "ns", Name: "gone", Containers: []Container{{Name: "c", MilliCPU: 10}}},
	}}
	t1 := start.Add(100 * time.Second)
	before := cpuOf(t, n.Render(nil, t1), "a")
	if before != 35 {
		t.Fatalf("a at +100 s: %v core-seconds, want 35", before)
	}
	n.apply([]Pod{
		{Namespace: "ns", Name: "a", Containers: []Container{{Name: "c", MilliCPU: 70}}},
		{Namespace: "ns", Name: "b", Containers: []Container{{Name: "c", MilliCPU: 70}}},
	}, t1)
	if got := cpuOf(t, n.Render(nil, t1), "a"); got != before {
		t.Errorf("a at the change: %v, want %v (continuous)", got, before)
	}
	t2 := t1.Add(10 * time.Second)
	b := n.Render(nil, t2)
	if got := cpuOf(t, b, "a"); got != 35.7 {
		t.Errorf("a 10 s after the change: %v, want 35.7 (70m since)", got)
	}
	if got := cpuOf(t, b, "b"); got != 7.7 {
		t.Errorf("new pod b at +110 s: %v, want 7.7 (70m since Start)", got)
	}
	if bytes.Contains(b, []byte(`pod="gone"`)) {
		t.Errorf("a dropped pod is still reported:\n%s", b)
	}
}
