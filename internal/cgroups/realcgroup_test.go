package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReadRealCgroupV1 creates a cgroup in the host's v1 hierarchies, runs a
// CPU-bound shell in it and checks Read against the child's own rusage.
func TestReadRealCgroupV1(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true: the real-cgroup test must run as root")
		}
		t.Skip("creating cgroups needs root")
	}
	controllers := []string{"cpu", "cpuacct", "memory", "pids", "blkio"}
	h := Hierarchy{V1: map[string]string{}}
	for _, c := range controllers {
		m := "/sys/fs/cgroup/" + c
		var fsst unix.Statfs_t
		if err := unix.Statfs(m, &fsst); err != nil || fsst.Type != unix.CGROUP_SUPER_MAGIC {
			t.Skipf("no cgroup v1 %s hierarchy at %s", c, m)
		}
		h.V1[c] = m
	}

	name := fmt.Sprintf("/panoptes-read-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	for _, c := range controllers {
		dir := h.V1[c] + name
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Remove(dir) }) // after the child is gone
	}
	// Charge the child's existing pages to the new memory cgroup (v1 only;
	// deprecated in recent kernels, so best effort).
	_ = os.WriteFile(h.V1["memory"]+name+"/memory.move_charge_at_immigrate", []byte("3"), 0)

	// The shell waits for a line, burns about half a second of CPU, says
	// "done" and waits again so that it is alive when Read runs.
	cmd := exec.Command("/bin/sh", "-c", `read go; i=0; while [ $i -lt 500000 ]; do i=$((i+1)); done; echo done; read stop || :`)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	pid := cmd.Process.Pid
	for _, c := range controllers {
		if err := os.WriteFile(h.V1[c]+name+"/cgroup.procs", []byte(strconv.Itoa(pid)), 0); err != nil {
			t.Fatalf("moving %d into %s: %v", pid, c, err)
		}
	}
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "done\n" {
		t.Fatalf("child said %q, %v", line, err)
	}

	st, err := h.Read(name)
	if err != nil {
		t.Fatalf("Read(%s): %v", name, err)
	}

	_ = stdin.Close() // the shell exits
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	childCPU := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()

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
