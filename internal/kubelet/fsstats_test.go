package kubelet

import (
	"testing"
	"time"

	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/panoptes-dev/panoptes/internal/collector/container"
)

// withFs is the fixture with a measurement of web-0's app container: a
// writable layer on the image filesystem, logs and a pod-level log file on
// the root filesystem.
func withFs() container.Snapshot {
	snap := fixtureSnapshot(0)
	u := func(v uint64) *uint64 { return &v }
	at := t0.Add(-30 * time.Second)
	root := &container.FsStats{Time: at, Device: "/dev/vda1", AvailableBytes: u(60 << 30), CapacityBytes: u(100 << 30), InodesFree: u(6_000_000), Inodes: u(6_553_600)}
	rootfs := &container.FsStats{Time: at.Add(-5 * time.Second), Device: "/dev/vdb", AvailableBytes: u(10 << 30), CapacityBytes: u(20 << 30),
		InodesFree: u(1_000_000), Inodes: u(1_310_720), UsedBytes: u(4096 * 100), InodesUsed: u(12)}
	logs := *root
	logs.UsedBytes, logs.InodesUsed, logs.Time = u(1<<20+8192), u(3), at.Add(time.Second)
	podLogs := *root
	podLogs.UsedBytes, podLogs.InodesUsed = u(4096), u(1)
	snap.Fs = &container.FsUsage{
		Containers: map[string]*container.Fs{idApp: {Rootfs: rootfs, Logs: &logs}},
		PodLogs:    map[string]*container.FsStats{uidWeb: &podLogs},
		RootFs:     root,
	}
	for i := range snap.Containers {
		if snap.Containers[i].Ref.ContainerID == idApp {
			snap.Containers[i].Fs = snap.Fs.Containers[idApp]
		}
	}
	return snap
}

// TestSummaryFs checks rootfs, logs and ephemeral-storage as the real
// v1alpha1 types decode them, and that the CPU-and-memory summary has none.
func TestSummaryFs(t *testing.T) {
	t.Parallel()
	h := newSummary(&fakeSource{snaps: []container.Snapshot{withFs()}})
	full := decodeSummary(t, body(t, get(t, h, "/stats/summary")))
	cpuMem := decodeSummary(t, body(t, get(t, h, "/stats/summary?only_cpu_and_memory=true")))

	var pod *statsapi.PodStats
	for i := range full.Pods {
		if full.Pods[i].PodRef.UID == uidWeb {
			pod = &full.Pods[i]
		}
	}
	if pod == nil {
		t.Fatal("no web-0 pod")
	}
	var app *statsapi.ContainerStats
	for i := range pod.Containers {
		if pod.Containers[i].Name == "app" {
			app = &pod.Containers[i]
		}
	}
	if app == nil {
		t.Fatal("no app container")
	}
	v := func(p *uint64) uint64 {
		if p == nil {
			return 1<<64 - 1
		}
		return *p
	}
	at := t0.Add(-30 * time.Second)
	if r := app.Rootfs; r == nil || v(r.UsedBytes) != 409600 || v(r.InodesUsed) != 12 || v(r.CapacityBytes) != 20<<30 ||
		v(r.AvailableBytes) != 10<<30 || v(r.Inodes) != 1_310_720 || v(r.InodesFree) != 1_000_000 {
		t.Errorf("rootfs = %+v", r)
	}
	if l := app.Logs; l == nil || v(l.UsedBytes) != 1<<20+8192 || v(l.InodesUsed) != 3 || v(l.CapacityBytes) != 100<<30 ||
		!l.Time.Time.Equal(at.Add(time.Second).Truncate(time.Second)) {
		t.Errorf("logs = %+v", l)
	}
	// The kubelet's sum: layer + logs + pod log files, on the root
	// filesystem's size, at the latest time.
	if e := pod.EphemeralStorage; e == nil || v(e.UsedBytes) != 409600+1<<20+8192+4096 || v(e.InodesUsed) != 12+3+1 ||
		v(e.CapacityBytes) != 100<<30 || v(e.AvailableBytes) != 60<<30 || v(e.Inodes) != 6_553_600 || v(e.InodesFree) != 6_000_000 ||
		!e.Time.Time.Equal(at.Add(time.Second).Truncate(time.Second)) {
		t.Errorf("ephemeral-storage = %+v", e)
	}
	// Another pod, no container measured: only the filesystem's size.
	for _, p := range full.Pods {
		if p.PodRef.UID == uidWeb {
			continue
		}
		if e := p.EphemeralStorage; e == nil || e.UsedBytes != nil || v(e.CapacityBytes) != 100<<30 {
			t.Errorf("%s: ephemeral-storage = %+v, want the capacity without usage", p.PodRef.Name, e)
		}
	}
	for _, p := range cpuMem.Pods {
		if p.EphemeralStorage != nil {
			t.Errorf("only_cpu_and_memory: %s has ephemeral-storage", p.PodRef.Name)
		}
		for _, c := range p.Containers {
			if c.Rootfs != nil || c.Logs != nil {
				t.Errorf("only_cpu_and_memory: %s/%s has rootfs or logs", p.PodRef.Name, c.Name)
			}
		}
	}
}
