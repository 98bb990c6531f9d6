package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/panoptes-dev/panoptes/internal/cgroups"
	"github.com/panoptes-dev/panoptes/internal/testkit"
	"github.com/panoptes-dev/panoptes/internal/testkit/cgroup"
)

func TestOOMTrackerIdentity(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_700_000_000, 0)
	pod := func(path, container string, start int64, kills uint64) Container {
		return Container{
			Ref:       cgroups.Ref{Path: path, Kind: cgroups.KindPodContainer, PodUID: "u"},
			Info:      Info{Namespace: "shop", Pod: "web-0", Container: container},
			Stats:     cgroups.Stats{HasMemory: true, Memory: cgroups.MemoryStats{OOMKills: kills}},
			StartTime: time.Unix(0, start),
		}
	}
	plain := func(path string, start int64, kills uint64) Container {
		return Container{
			Ref:       cgroups.Ref{Path: path, Kind: cgroups.KindOther},
			Stats:     cgroups.Stats{HasMemory: true, Memory: cgroups.MemoryStats{OOMKills: kills}},
			StartTime: time.Unix(0, start),
		}
	}
	type step struct {
		cts      []Container
		complete bool
		at       time.Duration
		want     []uint64 // OOMKills of cts after apply
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"kubernetes container restarted twice", []step{
			{cts: []Container{pod("/kubepods/podu/aaa", "app", 1, 1)}, complete: true, want: []uint64{1}},
			{cts: []Container{pod("/kubepods/podu/bbb", "app", 2, 0)}, complete: true, want: []uint64{1}},
			{cts: []Container{pod("/kubepods/podu/bbb", "app", 2, 1)}, complete: true, want: []uint64{2}},
			{cts: []Container{pod("/kubepods/podu/ccc", "app", 3, 1)}, complete: true, want: []uint64{3}},
		}},
		{"other containers of the pod apart", []step{
			{cts: []Container{pod("/kubepods/podu/aaa", "app", 1, 2), pod("/kubepods/podu/sss", "sidecar", 1, 1)}, complete: true, want: []uint64{2, 1}},
		}},
		{"same path made again", []step{
			{cts: []Container{plain("/job", 1, 1)}, complete: true, want: []uint64{1}},
			{cts: nil, complete: true},
			{cts: []Container{plain("/job", 5, 1)}, complete: true, want: []uint64{2}},
		}},
		{"a cut-short read retires nothing", []step{
			{cts: []Container{plain("/job", 1, 1), plain("/other", 1, 0)}, complete: true, want: []uint64{1, 0}},
			{cts: []Container{plain("/other", 1, 0)}, complete: false, want: []uint64{0}},
			{cts: []Container{plain("/job", 1, 1)}, complete: true, want: []uint64{1}},
		}},
		{"forgotten after the TTL", []step{
			{cts: []Container{plain("/job", 1, 1)}, complete: true, want: []uint64{1}},
			{cts: nil, complete: true, at: time.Minute},
			{cts: nil, complete: true, at: oomIdentityTTL + 2*time.Minute},
			{cts: []Container{plain("/job", 7, 0)}, complete: true, at: oomIdentityTTL + 3*time.Minute, want: []uint64{0}},
		}},
		{"unreadable memory keeps the count", []step{
			{cts: []Container{plain("/job", 1, 3)}, complete: true, want: []uint64{3}},
			{cts: []Container{{Ref: cgroups.Ref{Path: "/job"}, StartTime: time.Unix(0, 1)}}, complete: true, want: []uint64{0}},
			{cts: []Container{plain("/job", 1, 3)}, complete: true, want: []uint64{3}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var tr oomTracker
			for i, s := range tc.steps {
				tr.apply(s.cts, t0.Add(s.at), s.complete)
				for j, w := range s.want {
					if got := s.cts[j].Stats.Memory.OOMKills; got != w {
						t.Errorf("step %d, %s: OOM kills %d, want %d", i, s.cts[j].Ref.Path, got, w)
					}
				}
			}
		})
	}

	// The kernel log's kill of a cgroup removed before the next read
	// counts; one in a cgroup made again at the path does not go to the
	// old one; a kill seen in the log and then in the counter counts once.
	var tr oomTracker
	steps := []struct {
		cts    []Container
		logged []string // kernel log kills before this step, path@start
		want   []uint64
	}{
		{cts: []Container{plain("/job", 1, 0), plain("/seen", 1, 0)}, want: []uint64{0, 0}},
		{logged: []string{"/job@1", "/seen@1", "/unknown@1", "/job@9"}, cts: []Container{plain("/seen", 1, 1)}, want: []uint64{1}},
		{cts: []Container{plain("/job", 9, 0), plain("/seen", 1, 1)}, want: []uint64{1, 1}},
	}
	for i, s := range steps {
		for _, l := range s.logged {
			path, start, _ := strings.Cut(l, "@")
			var n int64
			if _, err := fmt.Sscan(start, &n); err != nil {
				t.Fatal(err)
			}
			want := path == "/job" && n == 1 || path == "/seen"
			if got := tr.logged(path, n); got != want {
				t.Errorf("step %d: logged(%s) = %v, want %v", i, l, got, want)
			}
		}
		tr.apply(s.cts, t0, true)
		for j, w := range s.want {
			if got := s.cts[j].Stats.Memory.OOMKills; got != w {
				t.Errorf("kernel log step %d, %s: OOM kills %d, want %d", i, s.cts[j].Ref.Path, got, w)
			}
		}
	}
}

// TestOOMKillsAcrossRecreatedCgroup runs a real process that allocates
// until the kernel's OOM killer kills it (tail reading /dev/zero, one
// endless line) in a real cgroup v1 memory cgroup with an 8 MiB limit; reads
// the count; removes the cgroup, makes it again and repeats: the collector
// reports 2 for the cgroup, where the kernel's counter of the new cgroup
// says 1.
func TestOOMKillsAcrossRecreatedCgroup(t *testing.T) {
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
	// The OOM kills below are host-wide news (node_vmstat_oom_kill): not
	// while the idle-host test watches for alerts.
	testkit.HostLock(t, testkit.HostOOM)
	rel := fmt.Sprintf("panoptes-oom-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	dir := filepath.Join(mem, rel)
	t.Cleanup(func() { _ = os.Remove(dir) })

	c := New(Config{ProcRoot: "/proc", SysRoot: "/sys", RootFS: "/", AllCgroups: true}, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	read := func() (uint64, bool) {
		t.Helper()
		snap, err := c.Snapshot(context.Background())
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		for _, ct := range snap.Containers {
			if ct.Ref.Path == "/"+rel {
				return ct.Stats.Memory.OOMKills, ct.Stats.HasMemory
			}
		}
		return 0, false
	}

	for round := 1; round <= 2; round++ {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatalf("round %d: make the cgroup: %v", round, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte("8388608"), 0o644); err != nil {
			t.Fatalf("round %d: set the limit: %v", round, err)
		}
		if n, ok := read(); !ok || n != uint64(round-1) {
			t.Fatalf("round %d: before the kill the collector reports %d OOM kills (memory read %v), want %d", round, n, ok, round-1)
		}
		oomKill(t, dir, tail)
		if k := kernelOOMKills(t, dir); k != 1 {
			t.Fatalf("round %d: the new cgroup's memory.oom_control says oom_kill %d, want 1", round, k)
		}
		n, ok := read()
		t.Logf("round %d: the kernel counts 1 kill in the cgroup, the collector %d", round, n)
		if !ok || n != uint64(round) {
			t.Fatalf("round %d: the collector reports %d OOM kills for /%s (memory read %v), want %d", round, n, rel, ok, round)
		}
		if err := os.Remove(dir); err != nil {
			t.Fatalf("round %d: remove the cgroup: %v", round, err)
		}
		if _, ok := read(); ok {
			t.Fatalf("round %d: the removed cgroup is still reported", round)
		}
	}
}

// oomKill runs tail on /dev/zero in the memory cgroup dir (joined by the
// shell before it execs tail) and waits for the OOM killer's SIGKILL.
func oomKill(t *testing.T, dir, tail string) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", `echo $$ > "$1/cgroup.procs" && exec "$2" /dev/zero`, "sh", dir, tail)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("tail /dev/zero in %s: %v, want it killed (%s)", dir, err, stderr.String())
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("tail /dev/zero in %s ended with %v, want SIGKILL from the OOM killer (%s)", dir, err, stderr.String())
	}
}

// kernelOOMKills reads oom_kill from the cgroup's memory.oom_control.
func kernelOOMKills(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			var n int
			if _, err := fmt.Sscan(v, &n); err != nil {
				t.Fatalf("memory.oom_control: %q: %v", line, err)
			}
			return n
		}
	}
	testkit.Missing(t, "oom_kill in memory.oom_control", "this kernel's cgroup v1 memory.oom_control has no oom_kill count (Linux 4.13 and later have it)")
	return 0
}

// TestOOMKillRemovedBeforeRead is a container killed for memory whose
// runtime removes its cgroup at once, as containerd does when the
// container exits: no read of the cgroup's counter sees the kill, the
// kernel log does. A real process is OOM-killed in a real memory cgroup the
// collector has read; the cgroup is removed as soon as the kernel log
// reader has taken the kill, before any read; made again, it reads 1.
func TestOOMKillRemovedBeforeRead(t *testing.T) {
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
	if f, err := os.Open("/dev/kmsg"); err != nil {
		testkit.Missing(t, "/dev/kmsg", "the test reads the kernel log's OOM kills: "+err.Error())
	} else {
		_ = f.Close()
	}
	tail, err := exec.LookPath("tail")
	if err != nil {
		testkit.Missing(t, "tail", "the test's allocating process is tail reading /dev/zero")
	}
	rel := fmt.Sprintf("panoptes-oom-kmsg-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	dir := filepath.Join(mem, rel)
	t.Cleanup(func() { _ = os.Remove(dir) })
	c := New(Config{ProcRoot: "/proc", SysRoot: "/sys", RootFS: "/", AllCgroups: true, KmsgPath: "/dev/kmsg"}, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	read := func() (uint64, bool) {
		t.Helper()
		snap, err := c.Snapshot(context.Background())
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		for _, ct := range snap.Containers {
			if ct.Ref.Path == "/"+rel {
				return ct.Stats.Memory.OOMKills, ct.Stats.HasMemory
			}
		}
		return 0, false
	}
	logged := func() uint64 {
		c.oom.mu.Lock()
		defer c.oom.mu.Unlock()
		if n := c.oom.byPath["/"+rel]; n != nil {
			return n.logged
		}
		return 0
	}

	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte("8388608"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, ok := read(); !ok || n != 0 {
		t.Fatalf("before the kill: %d OOM kills (memory read %v), want 0", n, ok)
	}
	oomKill(t, dir, tail)
	// The reader takes the kernel's record as it is written; wait for it
	// (the deadline only guards against a hang).
	for deadline := time.Now().Add(time.Minute); logged() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the kernel log reader did not take the OOM kill within a minute")
		}
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if _, ok := read(); ok {
		t.Fatal("the removed cgroup is still reported")
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n, ok := read()
	t.Logf("the cgroup made again: its kernel counter 0, the collector %d", n)
	if !ok || n != 1 {
		t.Fatalf("the cgroup made again reads %d OOM kills (memory read %v), want the 1 kill of the removed one", n, ok)
	}
}
