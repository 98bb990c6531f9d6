package e2e

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/panoptes-dev/panoptes/internal/testkit/cgroup"
)

// cadvisorPath returns the cAdvisor peer hack/test-deps.sh builds into
// $PANOPTES_CACHE/peers (default ~/.cache/panoptes/peers).
func cadvisorPath(t *testing.T) string {
	t.Helper()
	return cachedPeer(t, "cadvisor-*")
}

var cadvisorListeningRE = regexp.MustCompile(`listening on (\S+)`)

// startCadvisor runs the cAdvisor peer on an ephemeral loopback port,
// housekeeping every second, and returns its base URL.
func startCadvisor(t *testing.T) string {
	t.Helper()
	p := start(t, cadvisorPath(t), "--listen_ip=127.0.0.1", "--port=0",
		"--housekeeping_interval=1s", "--allow_dynamic_housekeeping=false", "--docker_only=false")
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := cadvisorListeningRE.FindStringSubmatch(p.logs.String()); m != nil {
			return "http://" + m[1]
		}
		select {
		case <-p.done:
			t.Fatalf("cadvisor exited early:\n%s", p.logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("cadvisor did not report its address:\n%s", p.logs.String())
	return ""
}

// knownLabelDifferences are label names cAdvisor puts on a family and
// Panoptes does not, as "family: labels". They are listed, not hidden: the
// test fails when one is no longer true, so that it is removed here.
var knownLabelDifferences = map[string]string{}

// sample is the value and timestamp of the series of family with id.
func sample(mfs map[string]*dto.MetricFamily, family, id string) (float64, bool) {
	mf, ok := mfs[family]
	if !ok {
		return 0, false
	}
	return seriesValue(mf, "id", id)
}

// ids returns the values of the id label of a family.
func ids(mf *dto.MetricFamily) map[string]bool {
	out := map[string]bool{}
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "id" {
				out[l.GetValue()] = true
			}
		}
	}
	return out
}

func within(a, b, frac float64) bool {
	return math.Abs(a-b) <= frac*math.Max(math.Abs(a), math.Abs(b))
}

// TestCadvisorParity runs cAdvisor beside the agent on a pod container
// cgroup with a CPU burner that holds 64 MiB, and compares their metric
// families (TYPE, label names, HELP) and values for the cgroups both report.
func TestCadvisorParity(t *testing.T) {
	cgroup.RequireRoot(t)
	cadvisorPath(t) // skip before making cgroups
	uid := fmt.Sprintf("%s-%s-%s-%s-%s", randomHex(t, 4), randomHex(t, 2), randomHex(t, 2), randomHex(t, 2), randomHex(t, 6))
	cid := randomHex(t, 32)
	podPath := "kubepods/burstable/pod" + uid
	path := podPath + "/" + cid
	mounts := cgroup.Make(t, path)
	// Fixed limits, so the spec values are not just the defaults.
	for file, v := range map[string]string{"cpu/" + path + "/cpu.shares": "512", "memory/" + path + "/memory.limit_in_bytes": "536870912"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", file)); err == nil {
			if err := os.WriteFile(filepath.Join("/sys/fs/cgroup", file), []byte(v), 0o644); err != nil {
				t.Fatalf("set %s: %v", file, err)
			}
		}
	}
	const mib = 64
	burner, stdin, stdout := startHelper(t, "burn", []string{fmt.Sprintf("PANOPTES_E2E_MIB=%d", mib)})
	cgroup.Join(t, mounts, path, burner.Process.Pid)
	if _, err := io.WriteString(stdin, "start\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := stdout.ReadString('\n'); err != nil || strings.TrimSpace(line) != "allocated" {
		t.Fatalf("burner: %q %v", line, err)
	}

	cadvisor := startCadvisor(t)
	_, agent := startAgent(t, "--collector.disable-defaults", "--collector.container")
	containerID, podID := "/"+path, "/"+podPath

	// cAdvisor finds new cgroups through inotify and reads them every
	// housekeeping interval: wait until it reports the container's memory.
	var cad map[string]*dto.MetricFamily
	deadline := time.Now().Add(20 * time.Second)
	for {
		cad = scrape(t, cadvisor+"/metrics")
		if ws, ok := sample(cad, "container_memory_working_set_bytes", containerID); ok && ws >= mib<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cadvisor did not report %s with a working set of %d MiB within 20 s", containerID, mib)
		}
		time.Sleep(250 * time.Millisecond)
	}
	pan := scrape(t, agent+"/metrics")

	// Families: every container_* and machine_* family of Panoptes exists in
	// cAdvisor with the same TYPE, label names and HELP.
	var diffs, helps []string
	compared := 0
	for name, pmf := range pan {
		if !strings.HasPrefix(name, "container_") && !strings.HasPrefix(name, "machine_") {
			continue
		}
		cmf, ok := cad[name]
		if !ok {
			// cAdvisor leaves out families it has no value for (no block I/O,
			// no CFS quota): only a family it has for a cgroup both report
			// must exist.
			if shared := sharedIDs(pmf, cad); len(shared) > 0 {
				diffs = append(diffs, fmt.Sprintf("%s: not in cAdvisor's output (Panoptes has it for %s)", name, strings.Join(shared, ", ")))
			}
			continue
		}
		compared++
		if pmf.GetType() != cmf.GetType() {
			diffs = append(diffs, fmt.Sprintf("%s: TYPE %s, cAdvisor's %s", name, pmf.GetType(), cmf.GetType()))
		}
		pl, cl := labelNames(pmf), labelNames(cmf)
		if want, known := knownLabelDifferences[name]; known {
			extra := setMinus(cl, pl)
			if strings.Join(extra, ",") != want || len(setMinus(pl, cl)) > 0 {
				diffs = append(diffs, fmt.Sprintf("%s: labels %v, cAdvisor's %v; knownLabelDifferences says cAdvisor adds only %s: update it", name, pl, cl, want))
			}
		} else if strings.Join(pl, ",") != strings.Join(cl, ",") {
			diffs = append(diffs, fmt.Sprintf("%s: labels %v, cAdvisor's %v", name, pl, cl))
		}
		if pmf.GetHelp() != cmf.GetHelp() {
			helps = append(helps, fmt.Sprintf("%s: HELP %q, cAdvisor's %q", name, pmf.GetHelp(), cmf.GetHelp()))
		}
	}
	t.Logf("compared %d container_*/machine_* families", compared)
	sort.Strings(diffs)
	sort.Strings(helps)
	for _, d := range append(diffs, helps...) {
		t.Error(d)
	}

	// Both report the pod and its container.
	for _, id := range []string{containerID, podID} {
		if !ids(cad["container_cpu_usage_seconds_total"])[id] {
			t.Errorf("cAdvisor does not report %s", id)
		}
		if !ids(pan["container_cpu_usage_seconds_total"])[id] {
			t.Errorf("Panoptes does not report %s", id)
		}
	}

	// Values that do not move are equal.
	for _, f := range []string{"container_spec_cpu_shares", "container_spec_memory_limit_bytes", "container_spec_cpu_period"} {
		for _, id := range []string{containerID, podID} {
			p, pok := sample(pan, f, id)
			c, cok := sample(cad, f, id)
			if !pok || !cok || p != c {
				t.Errorf("%s{id=%q}: Panoptes %v (present %v), cAdvisor %v (present %v)", f, id, p, pok, c, cok)
			}
		}
	}
	for _, f := range []string{"machine_cpu_cores", "machine_memory_bytes"} {
		p, c := familyValue(pan[f]), familyValue(cad[f])
		if p != c || p == 0 {
			t.Errorf("%s: Panoptes %v, cAdvisor %v", f, p, c)
		}
	}

	// The working set holds still while the burner runs: within 10%.
	pws, _ := sample(pan, "container_memory_working_set_bytes", containerID)
	cws, _ := sample(cad, "container_memory_working_set_bytes", containerID)
	t.Logf("working set of %s: Panoptes %.0f, cAdvisor %.0f", containerID, pws, cws)
	if !within(pws, cws, 0.10) {
		t.Errorf("working set of %s: Panoptes %.0f, cAdvisor %.0f: not within 10%%", containerID, pws, cws)
	}

	// CPU usage moves by a CPU a second while the burner runs, and cAdvisor's
	// value is up to a housekeeping interval old: stop the burner, so that
	// the cgroup's usage holds still, let cAdvisor read it again, then
	// compare.
	_ = stdin.Close()
	_ = burner.Wait()
	time.Sleep(2500 * time.Millisecond)
	cad = scrape(t, cadvisor+"/metrics")
	pan = scrape(t, agent+"/metrics")
	for _, id := range []string{containerID, podID} {
		p, pok := sample(pan, "container_cpu_usage_seconds_total", id)
		c, cok := sample(cad, "container_cpu_usage_seconds_total", id)
		t.Logf("cpu usage of %s: Panoptes %.3f s, cAdvisor %.3f s", id, p, c)
		if !pok || !cok || p < 0.2 || !within(p, c, 0.10) {
			t.Errorf("cpu usage of %s: Panoptes %.3f s (present %v), cAdvisor %.3f s (present %v): want at least 0.2 s and within 10%%", id, p, pok, c, cok)
		}
	}
}

// sharedIDs are the ids of a Panoptes family that cAdvisor reports too.
func sharedIDs(pmf *dto.MetricFamily, cad map[string]*dto.MetricFamily) []string {
	cadIDs := ids(cad["container_last_seen"])
	var out []string
	for id := range ids(pmf) {
		if cadIDs[id] {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

func setMinus(a, b []string) []string {
	in := map[string]bool{}
	for _, s := range b {
		in[s] = true
	}
	var out []string
	for _, s := range a {
		if !in[s] {
			out = append(out, s)
		}
	}
	return out
}

// familyValue is the value of a family's first series, 0 if none.
func familyValue(mf *dto.MetricFamily) float64 {
	if mf == nil || len(mf.GetMetric()) == 0 {
		return 0
	}
	m := mf.GetMetric()[0]
	if m.Counter != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}
