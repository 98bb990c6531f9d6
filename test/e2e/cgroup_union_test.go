package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/panoptes-dev/panoptes/internal/testkit"
	"github.com/panoptes-dev/panoptes/internal/testkit/cgroup"
)

// TestAllCgroupsUnionOfV1Hierarchies makes a real cgroup in the memory and
// cpuacct v1 hierarchies only, not in cpu (as a tool that joins only the
// controllers it limits does), runs a process holding memory in it, and
// checks that the agent with --collector.container.all-cgroups reports it,
// and reports the same families with the same labels for it as cAdvisor,
// which lists raw cgroups across every hierarchy.
func TestAllCgroupsUnionOfV1Hierarchies(t *testing.T) {
	cgroup.RequireRoot(t)
	cadvisorPath(t) // skip before making cgroups
	mount := func(c string) string { return filepath.Join("/sys/fs/cgroup", c) }
	for _, c := range []string{"cpu", "cpuacct", "memory"} {
		if syscall.Access(filepath.Join(mount(c), "cgroup.procs"), 2 /* W_OK */) != nil {
			testkit.Missing(t, "cgroup v1 "+c, "the test needs the cpu, cpuacct and memory v1 hierarchies mounted apart and writable under /sys/fs/cgroup")
		}
	}
	if a, b := realPath(t, mount("cpu")), realPath(t, mount("cpuacct")); a == b {
		testkit.Missing(t, "cpu and cpuacct mounted apart", "cpu and cpuacct are co-mounted ("+a+"): a cgroup cannot be in one and not the other")
	}
	name := "panoptes-union-" + randomHex(t, 6)
	id := "/" + name
	in := []string{mount("memory"), mount("cpuacct")}
	for _, m := range in {
		if err := os.Mkdir(filepath.Join(m, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, m := range in {
			_ = os.Remove(filepath.Join(m, name))
		}
	})
	const mib = 32
	burner, stdin, stdout := startHelper(t, "burn", []string{fmt.Sprintf("PANOPTES_E2E_MIB=%d", mib)})
	cgroup.Join(t, in, name, burner.Process.Pid)
	if _, err := stdin.Write([]byte("start\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := stdout.ReadString('\n'); err != nil || strings.TrimSpace(line) != "allocated" {
		t.Fatalf("burner: %q %v", line, err)
	}
	if _, err := os.Stat(filepath.Join(mount("cpu"), name)); err == nil {
		t.Fatalf("%s exists in the cpu hierarchy: the test needs it absent there", id)
	}

	cadvisor := startCadvisor(t)
	_, agent := startAgent(t, "--collector.disable-defaults", "--collector.container", "--collector.container.all-cgroups")

	var cad map[string]*dto.MetricFamily
	deadline := time.Now().Add(2 * time.Minute) // only against a hang
	for {
		cad = scrape(t, cadvisor+"/metrics")
		if ws, ok := sample(cad, "container_memory_working_set_bytes", id); ok && ws >= mib<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cadvisor did not report %s with a working set of %d MiB in 2 minutes", id, mib)
		}
		time.Sleep(250 * time.Millisecond)
	}
	pan := scrape(t, agent+"/metrics")

	// The series of the cgroup, as "family{labels but the value}", in each.
	cs, ps := seriesOf(cad, id), seriesOf(pan, id)
	if len(ps) == 0 {
		t.Fatalf("Panoptes with --collector.container.all-cgroups does not report %s (in memory and cpuacct, not cpu)", id)
	}
	notExported := readNotExported(t)
	var diffs []string
	for _, s := range setMinus(cs, ps) {
		if _, listed := notExported[s[:strings.IndexByte(s, '{')]]; listed {
			continue
		}
		diffs = append(diffs, "only cAdvisor: "+s)
	}
	for _, s := range setMinus(ps, cs) {
		diffs = append(diffs, "only Panoptes: "+s)
	}
	t.Logf("%s: %d series in Panoptes, %d in cAdvisor", id, len(ps), len(cs))
	for _, d := range diffs {
		t.Error(d)
	}
	// And the values that hold still agree: the working set, and no CPU
	// controller's CFS figures (there is no cpu cgroup to read them from).
	pws, _ := sample(pan, "container_memory_working_set_bytes", id)
	cws, _ := sample(cad, "container_memory_working_set_bytes", id)
	t.Logf("working set of %s: Panoptes %.0f, cAdvisor %.0f", id, pws, cws)
	if pws < mib<<20 || !within(pws, cws, 0.10) {
		t.Errorf("working set of %s: Panoptes %.0f, cAdvisor %.0f: want at least %d MiB and within 10%%", id, pws, cws, mib)
	}
	if v, ok := sample(pan, "container_cpu_usage_seconds_total", id); !ok {
		t.Errorf("Panoptes has no container_cpu_usage_seconds_total for %s: cpuacct has it", id)
	} else {
		t.Logf("cpu usage of %s: Panoptes %.3f s", id, v)
	}
}

// realPath resolves links, so that co-mounted hierarchies (cpu ->
// cpu,cpuacct) compare equal.
func realPath(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// seriesOf lists the container_* series with the given id as
// family{name="value",...}, the labels sorted, values and timestamps left
// out; sorted.
func seriesOf(mfs map[string]*dto.MetricFamily, id string) []string {
	var out []string
	for name, mf := range mfs {
		if !strings.HasPrefix(name, "container_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			match := false
			for _, l := range m.GetLabel() {
				if l.GetName() == "id" && l.GetValue() == id {
					match = true
				}
				ls = append(ls, l.GetName()+"="+strconv.Quote(l.GetValue()))
			}
			if match {
				sort.Strings(ls)
				out = append(out, name+"{"+strings.Join(ls, ",")+"}")
			}
		}
	}
	slices.Sort(out)
	return out
}
