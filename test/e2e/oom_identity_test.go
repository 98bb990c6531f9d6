package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/panoptes-dev/panoptes/internal/testkit"
	"github.com/panoptes-dev/panoptes/internal/testkit/cgroup"
)

// TestOOMEventsAcrossRecreatedCgroup OOM-kills a real process (tail reading
// /dev/zero, one endless line) in a real cgroup v1 memory cgroup with an
// 8 MiB limit, removes the cgroup, makes it again and kills again. The
// agent's container_oom_events_total for the cgroup reads 2 (it counts by
// identity, here the path). cAdvisor v0.60's library exports the family but
// nothing in it counts (the kernel log parser, utils/oomparser, is no longer
// wired to its manager): it reads 0 after each real kill, which the README
// says; the test fails when that changes, so that the README is updated.
func TestOOMEventsAcrossRecreatedCgroup(t *testing.T) {
	mounts := cgroup.RequireV1(t)
	mem := ""
	for _, m := range mounts {
		if filepath.Base(m) == "memory" {
			mem = m
		}
	}
	if mem == "" {
		testkit.Missing(t, "cgroup v1 memory", "the test makes a memory cgroup with a limit; /sys/fs/cgroup/memory is not a writable v1 hierarchy")
	}
	tail, err := exec.LookPath("tail")
	if err != nil {
		testkit.Missing(t, "tail", "the test's allocating process is tail reading /dev/zero")
	}
	cadvisorPath(t)
	name := "panoptes-oom-" + randomHex(t, 6)
	id, dir := "/"+name, filepath.Join(mem, name)
	t.Cleanup(func() { _ = os.Remove(dir) })

	cadvisor := startCadvisor(t)
	_, agent := startAgent(t, "--collector.disable-defaults", "--collector.container", "--collector.container.all-cgroups")

	// waitFor scrapes url until cond holds for the families.
	waitFor := func(what, url string, cond func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute) // only against a hang
		for {
			mfs := scrape(t, url)
			if cond(mfs) {
				return mfs
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 2 minutes", what)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	has := func(mfs map[string]*dto.MetricFamily) bool {
		_, ok := sample(mfs, "container_memory_usage_bytes", id)
		return ok
	}

	var cadOOM, panOOM float64
	for round := 1; round <= 2; round++ {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte("8388608"), 0o644); err != nil {
			t.Fatalf("round %d: set the limit: %v", round, err)
		}
		// Both track the new cgroup before the kill: cAdvisor counts a kill
		// only for a cgroup it knows.
		waitFor("cAdvisor reports "+id, cadvisor+"/metrics", has)
		waitFor("the agent reports "+id, agent+"/metrics", has)

		cmd := exec.Command("/bin/sh", "-c", `echo $$ > "$1/cgroup.procs" && exec "$2" /dev/zero`, "sh", dir, tail)
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("round %d: tail /dev/zero: %v, want it killed", round, err)
		}
		if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: tail /dev/zero ended with %v, want the OOM killer's SIGKILL", round, err)
		}
		// A cAdvisor read of the cgroup after the kill (its samples carry
		// the time of the read).
		killed := time.Now()
		cad := waitFor("cAdvisor reads "+id+" after the kill", cadvisor+"/metrics", func(mfs map[string]*dto.MetricFamily) bool {
			ts, ok := sampleTime(mfs, "container_oom_events_total", id)
			return ok && ts.After(killed)
		})
		cadOOM, _ = sample(cad, "container_oom_events_total", id)
		panOOM, _ = sample(scrape(t, agent+"/metrics"), "container_oom_events_total", id)
		t.Logf("round %d: container_oom_events_total{id=%q}: Panoptes %v, cAdvisor %v", round, id, panOOM, cadOOM)
		if panOOM != float64(round) {
			t.Errorf("round %d: Panoptes counts %v OOM kills for %s, want %d", round, panOOM, id, round)
		}
		if cadOOM != 0 {
			t.Errorf("round %d: cAdvisor counts %v OOM kills for %s; the README says its library counts none: update it", round, cadOOM, id)
		}

		if err := os.Remove(dir); err != nil {
			t.Fatalf("round %d: remove the cgroup: %v", round, err)
		}
		// Both forget the removed cgroup before it is made again.
		waitFor("cAdvisor drops "+id, cadvisor+"/metrics", func(mfs map[string]*dto.MetricFamily) bool { return !has(mfs) })
		waitFor("the agent drops "+id, agent+"/metrics", func(mfs map[string]*dto.MetricFamily) bool { return !has(mfs) })
	}
}
