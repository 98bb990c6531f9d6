package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/panoptes-dev/panoptes/internal/testkit"
	"github.com/panoptes-dev/panoptes/internal/testkit/cgroup"
)

// TestReadRealCgroupV1 creates a cgroup in the host's v1 hierarchies
// (testkit/cgroup), runs testkit's CPU burner in it for half a second of CPU
// and checks Read against the burner's own rusage.
func TestReadRealCgroupV1(t *testing.T) {
	rel := fmt.Sprintf("panoptes-read-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	name := "/" + rel
	mounts := cgroup.Make(t, rel) // removed after the burner is gone
	h := Hierarchy{V1: map[string]string{}}
	for _, m := range mounts {
		h.V1[filepath.Base(m)] = m
	}
	controllers := cgroup.V1Controllers
	for _, c := range controllers {
		if h.V1[c] == "" {
			testkit.Missing(t, "cgroup v1 "+c, "the test reads every v1 controller of a cgroup; /sys/fs/cgroup/"+c+" is not a writable cgroup v1 hierarchy")
		}
	}
	// Charge the burner's existing pages to the new memory cgroup (v1 only;
	// deprecated in recent kernels, so best effort).
	_ = os.WriteFile(h.V1["memory"]+name+"/memory.move_charge_at_immigrate", []byte("3"), 0)

	// The burner waits to be told to go, burns half a second of CPU and
	// holds 4 MiB, says "done" and waits again so that it is alive when Read
	// runs. Its start-up, before it joined the cgroup, is left out.
	burner := testkit.StartBurner(t, testkit.BurnOptions{MiB: 4, CPUSeconds: 0.5})
	pid := burner.Pid()
	cgroup.Join(t, mounts, rel, pid)
	before := burner.CPUSeconds(t)
	burner.Go(t)
	burner.WaitDone(t)

	st, err := h.Read(name)
	if err != nil {
		t.Fatalf("Read(%s): %v", name, err)
	}

	burner.Stop(t)
	ru := burner.Cmd.ProcessState.SysUsage().(*syscall.Rusage)
	childCPU := time.Duration(ru.Utime.Nano()+ru.Stime.Nano()).Seconds() - before

	t.Logf("cgroup usage %.3fs (user %.2f system %.2f), child rusage %.3fs; memory %d bytes; pids %d/%d",
		st.CPU.UsageSeconds, st.CPU.UserSeconds, st.CPU.SystemSeconds, childCPU, st.Memory.Usage, st.Processes, st.Threads)
	if !st.HasCPU || !st.HasMemory || !st.HasPids || !st.HasIO {
		t.Errorf("Has flags: cpu %v memory %v pids %v io %v, want all true", st.HasCPU, st.HasMemory, st.HasPids, st.HasIO)
	}
	if childCPU < 0.1 {
		t.Fatalf("child used only %.3fs of CPU", childCPU)
	}
	if d := math.Abs(st.CPU.UsageSeconds - childCPU); d > 0.1*childCPU {
		t.Errorf("UsageSeconds %.3f, child's CPU time %.3f: off by more than 10%%", st.CPU.UsageSeconds, childCPU)
	}
	if st.Processes < 1 || st.PID != pid {
		t.Errorf("Processes %d PID %d, want >= 1 and %d", st.Processes, st.PID, pid)
	}
	if st.Threads < st.Processes {
		t.Errorf("Threads %d < Processes %d", st.Threads, st.Processes)
	}
	if st.Memory.Usage == 0 || st.Memory.WorkingSet > st.Memory.Usage {
		t.Errorf("memory usage %d working set %d", st.Memory.Usage, st.Memory.WorkingSet)
	}
	if st.CPU.Shares != 1024 || st.CPU.QuotaMicros != 0 || st.CPU.PeriodMicros == 0 || st.Memory.Limit != 0 {
		t.Errorf("defaults: shares %d quota %d period %d limit %d", st.CPU.Shares, st.CPU.QuotaMicros, st.CPU.PeriodMicros, st.Memory.Limit)
	}

	// The child exited: an empty cgroup reads with no PID.
	if st, err = h.Read(name); err != nil || st.Processes != 0 || st.PID != 0 {
		t.Errorf("Read of the emptied cgroup: %d processes, pid %d, %v", st.Processes, st.PID, err)
	}

	// Once removed, the cgroup reads as not existing.
	for _, c := range controllers {
		if err := os.Remove(filepath.Join(h.V1[c], name)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Read(name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read of a removed cgroup: %v, want fs.ErrNotExist", err)
	}
}
