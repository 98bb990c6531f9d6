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
	deadline := time.Now().Add(time.Minute) // only against a hang
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

// sample is the value of the series of family with id.
func sample(mfs map[string]*dto.MetricFamily, family, id string) (float64, bool) {
	mf, ok := mfs[family]
	if !ok {
		return 0, false
	}
	return seriesValue(mf, "id", id)
}

// sampleTime is the timestamp of the first series of family with id: when
// cAdvisor read the cgroup's stats (it stamps each container series with
// it). ok is false when there is no such series, or it has no timestamp.
func sampleTime(mfs map[string]*dto.MetricFamily, family, id string) (ts time.Time, ok bool) {
	for _, m := range mfs[family].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "id" && l.GetValue() == id {
				if m.TimestampMs == nil {
					return time.Time{}, false
				}
				return time.UnixMilli(m.GetTimestampMs()), true
			}
		}
	}
	return time.Time{}, false
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
	deadline := time.Now().Add(2 * time.Minute) // only against a hang
	for {
		cad = scrape(t, cadvisor+"/metrics")
		if ws, ok := sample(cad, "container_memory_working_set_bytes", containerID); ok && ws >= mib<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cadvisor did not report %s with a working set of %d MiB in 2 minutes", containerID, mib)
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

	// And the other way: every container_* and machine_* family cAdvisor has
	// for a cgroup both report (or for the machine) is Panoptes' too, the
	// loop above comparing it, unless testdata lists it with its reason.
	notExported := readNotExported(t)
	var missing []string
	for name, cmf := range cad {
		if !strings.HasPrefix(name, "container_") && !strings.HasPrefix(name, "machine_") {
			continue
		}
		if _, ok := pan[name]; ok {
			continue
		}
		// The machine's families and cAdvisor's own have no id; a cgroup's
		// count when Panoptes reports that cgroup too.
		if hasLabel(cmf, "id") && len(sharedIDs(cmf, pan)) == 0 {
			continue
		}
		missing = append(missing, name)
		if _, listed := notExported[name]; !listed {
			diffs = append(diffs, fmt.Sprintf("%s: cAdvisor's %s family is not exported by Panoptes, nor listed in %s with a reason",
				name, cmf.GetType(), notExportedFile))
		}
	}
	for name := range notExported {
		if _, ok := pan[name]; ok {
			diffs = append(diffs, fmt.Sprintf("%s: Panoptes exports it, but %s says it does not: remove the line", name, notExportedFile))
		}
	}
	sort.Strings(missing)
	t.Logf("%d cAdvisor families on these cgroups not exported by Panoptes (%d listed in %s): %s",
		len(missing), len(notExported), notExportedFile, strings.Join(missing, " "))
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
	// the cgroup's usage holds still, wait until cAdvisor has read both
	// cgroups since (its samples carry the time it read them), then compare.
	// The burner runs until its cgroup has used minCPU, however loaded the
	// machine: only then are the usages worth comparing.
	const minCPU = 0.2                         // seconds
	deadline = time.Now().Add(2 * time.Minute) // only against a hang
	for {
		if u, ok := sample(scrape(t, agent+"/metrics"), "container_cpu_usage_seconds_total", containerID); ok && u >= minCPU {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the burner's cgroup %s did not use %v s of CPU in 2 minutes", containerID, minCPU)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = stdin.Close()
	_ = burner.Wait()
	stopped := time.Now()
	deadline = time.Now().Add(2 * time.Minute) // only against a hang
	for {
		cad = scrape(t, cadvisor+"/metrics")
		fresh := 0
		for _, id := range []string{containerID, podID} {
			if ts, ok := sampleTime(cad, "container_cpu_usage_seconds_total", id); ok && ts.After(stopped) {
				fresh++
			}
		}
		if fresh == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cadvisor did not read %s and %s again in 2 minutes after the burner stopped", containerID, podID)
		}
		time.Sleep(250 * time.Millisecond)
	}
	pan = scrape(t, agent+"/metrics")
	for _, id := range []string{containerID, podID} {
		p, pok := sample(pan, "container_cpu_usage_seconds_total", id)
		c, cok := sample(cad, "container_cpu_usage_seconds_total", id)
		t.Logf("cpu usage of %s: Panoptes %.3f s, cAdvisor %.3f s", id, p, c)
		if !pok || !cok || p < minCPU || !within(p, c, 0.10) {
			t.Errorf("cpu usage of %s: Panoptes %.3f s (present %v), cAdvisor %.3f s (present %v): want at least %v s and within 10%%", id, p, pok, c, cok, minCPU)
		}
	}
}

// sharedIDs are the ids of a family of one exporter that the other
// exporter (its families in other) reports too.
func sharedIDs(mf *dto.MetricFamily, other map[string]*dto.MetricFamily) []string {
	otherIDs := ids(other["container_last_seen"])
	var out []string
	for id := range ids(mf) {
		if otherIDs[id] {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// hasLabel reports whether a series of mf has the label.
func hasLabel(mf *dto.MetricFamily, name string) bool {
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == name {
				return true
			}
		}
	}
	return false
}

// notExportedFile lists the cAdvisor families Panoptes does not export.
const notExportedFile = "testdata/cadvisor-not-exported.txt"

// readNotExported reads notExportedFile: one family a line, then why
// Panoptes does not export it; "#" starts a comment line. A line without a
// reason, or a family listed twice, fails the test.
func readNotExported(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(notExportedFile)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := strings.Fields(line)[0]
		reason := strings.TrimSpace(strings.TrimPrefix(line, name))
		switch {
		case reason == "":
			t.Errorf("%s:%d: %s has no reason", notExportedFile, i+1, name)
		case out[name] != "":
			t.Errorf("%s:%d: %s listed twice", notExportedFile, i+1, name)
		}
		out[name] = reason
	}
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
