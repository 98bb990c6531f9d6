package host

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestProcessesVanished: a process listed in /proc whose stat file is gone
// (it exited between the listing and the read) is skipped, as are threads
// that exit, and the scrape succeeds.
func TestProcessesVanished(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const stat7 = "7 (a b) R 1 7 7 0 -1 4194560 10 0 0 0 1 2 0 0 20 0 2 0 12 1757962 304 18446744073709551615 1 1 0 0 0 0 0 4096 1260 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
	writeFixture(t, filepath.Join(dir, "proc", "sys", "kernel", "threads-max"), "1000\n")
	writeFixture(t, filepath.Join(dir, "proc", "sys", "kernel", "pid_max"), "32768\n")
	writeFixture(t, filepath.Join(dir, "proc", "7", "stat"), stat7)
	writeFixture(t, filepath.Join(dir, "proc", "7", "task", "7", "stat"), stat7)
	if err := os.MkdirAll(filepath.Join(dir, "proc", "7", "task", "8"), 0o755); err != nil { // thread gone
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "proc", "9"), 0o755); err != nil { // process gone
		t.Fatal(err)
	}
	out, err := render(t, "processes", fixtureConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"node_processes_pids 1\n", "node_processes_threads 2\n", `node_processes_threads_state{thread_state="R"} 1` + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

// TestProcessesThisMachine reads the real /proc: the counts must agree with
// each other and with the kernel's limits.
func TestProcessesThisMachine(t *testing.T) {
	t.Parallel()
	out, err := render(t, "processes", DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	sum := func(name string) float64 {
		var s float64
		for _, m := range fams[name].GetMetric() {
			s += m.GetGauge().GetValue()
		}
		return s
	}
	pids, threads := sum("node_processes_pids"), sum("node_processes_threads")
	if pids < 2 || threads < pids {
		t.Errorf("pids %v, threads %v: want at least this test's process and init, threads >= pids", pids, threads)
	}
	// Processes start and stop during the walk, so the per-state sums may
	// differ from the totals only by what changed meanwhile: they count the
	// same walk, so pids equals the sum of process states exactly.
	if s := sum("node_processes_state"); s != pids {
		t.Errorf("sum of process states %v != pids %v", s, pids)
	}
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if got := sum("node_processes_max_processes"); got != want {
		t.Errorf("max_processes %v, /proc/sys/kernel/pid_max %v", got, want)
	}
}
