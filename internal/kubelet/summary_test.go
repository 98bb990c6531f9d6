package kubelet

import (
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/panoptes-dev/panoptes/internal/collector/container"
	"github.com/panoptes-dev/panoptes/internal/testkit"
)

// TestSummaryError: a failed snapshot is a 500 with the kubelet's message.
func TestSummaryError(t *testing.T) {
	resp := get(t, newSummary(&fakeSource{err: errFake}), "/stats/summary")
	b := body(t, resp)
	if resp.StatusCode != 500 || string(b) != "Internal Error: "+errFake.Error() {
		t.Errorf("status %d body %q", resp.StatusCode, b)
	}
}

// TestOnlyCPUAndMemoryParam: like the kubelet, only a single
// only_cpu_and_memory=true selects the short form.
func TestOnlyCPUAndMemoryParam(t *testing.T) {
	h := newSummary(&fakeSource{snaps: []container.Snapshot{fixtureSnapshot(0)}})
	for query, short := range map[string]bool{
		"":                          false,
		"?only_cpu_and_memory=true": true,
		"?only_cpu_and_memory=True": false,
		"?only_cpu_and_memory=1":    false,
		"?only_cpu_and_memory=true&only_cpu_and_memory=true": false,
	} {
		b := string(body(t, get(t, h, "/stats/summary"+query)))
		if got := !strings.Contains(b, `"network"`); got != short {
			t.Errorf("%q: short form %v, want %v", query, got, short)
		}
	}
}

// TestSummaryMethod: GET, HEAD and POST as the kubelet's route; others 405.
func TestSummaryMethod(t *testing.T) {
	h := newSummary(&fakeSource{snaps: []container.Snapshot{fixtureSnapshot(0)}})
	for method, want := range map[string]int{"GET": 200, "HEAD": 200, "POST": 200, "DELETE": 405} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, "/stats/summary", nil))
		if rec.Code != want {
			t.Errorf("%s: %d, want %d", method, rec.Code, want)
		}
		if method == "HEAD" && rec.Body.Len() != 0 {
			t.Errorf("HEAD: a body")
		}
	}
}

// TestRateTracker covers the cases of the usageNanoCores computation.
func TestRateTracker(t *testing.T) {
	var r rateTracker
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	step := func(readings map[string]cpuReading, want map[string]uint64) {
		t.Helper()
		got := r.update(readings)
		if len(got) != len(want) {
			t.Errorf("rates %v, want %v", got, want)
			return
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("rate of %s = %d, want %d", k, got[k], v)
			}
		}
	}
	step(map[string]cpuReading{"/a": {at(0), 1e9}, "/b": {at(0), 5e9}}, nil)
	// Half a core over 2 s; b burns nothing.
	step(map[string]cpuReading{"/a": {at(2), 2e9}, "/b": {at(2), 5e9}}, map[string]uint64{"/a": 5e8, "/b": 0})
	// The same readings again (a cached snapshot, a concurrent request):
	// the rate already known.
	step(map[string]cpuReading{"/a": {at(2), 2e9}, "/b": {at(1), 4e9}}, map[string]uint64{"/a": 5e8, "/b": 0})
	// b's counter went backwards (a new cgroup at the same path): no rate
	// until it is read again; /c is new.
	step(map[string]cpuReading{"/a": {at(4), 6e9}, "/b": {at(4), 1e9}, "/c": {at(4), 0}}, map[string]uint64{"/a": 2e9})
	step(map[string]cpuReading{"/b": {at(5), 1.25e9}}, map[string]uint64{"/b": 25e7})
	// /a and /c were forgotten when they went missing.
	step(map[string]cpuReading{"/a": {at(6), 7e9}, "/c": {at(6), 1e9}}, nil)
	r.mu.Lock()
	if len(r.entries) != 2 {
		t.Errorf("%d entries kept, want 2", len(r.entries))
	}
	r.mu.Unlock()
}

// TestSummaryConcurrent serves summaries from concurrent requests (for the
// race detector).
func TestSummaryConcurrent(t *testing.T) {
	snaps := make([]container.Snapshot, 20)
	for i := range snaps {
		snaps[i] = fixtureSnapshot(i)
	}
	h := newSummary(&fakeSource{snaps: snaps})
	r := NewResourceHandler(&fakeSource{snaps: snaps}, discard())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				decodeSummary(t, body(t, get(t, h, "/stats/summary")))
				parseText(t, body(t, get(t, r, "/metrics/resource")))
			}
		})
	}
	wg.Wait()
}

// TestNoKubernetesImports: the package, and all it links, stays free of
// k8s.io modules outside its tests.
func TestNoKubernetesImports(t *testing.T) {
	gotool, err := exec.LookPath("go")
	if err != nil {
		testkit.Missing(t, "the go tool", "not on $PATH; the test lists what the package links with it")
	}
	out, err := exec.Command(gotool, "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for dep := range strings.SplitSeq(string(out), "\n") {
		if strings.HasPrefix(dep, "k8s.io/") {
			t.Errorf("links %s", dep)
		}
	}
}
