package kubelet

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/procfs"

	"github.com/panoptes-dev/panoptes/internal/cgroups"
	"github.com/panoptes-dev/panoptes/internal/collector/container"
)

// t0 is the first fixture snapshot's time; the second is 10 s later.
var t0 = time.Date(2026, 5, 1, 10, 0, 0, 123_000_000, time.UTC)

const (
	uidWeb     = "6b0c5e1a-1111-4a4a-8b8b-000000000001"
	uidCoreDNS = "6b0c5e1a-2222-4a4a-8b8b-000000000002"
	idApp      = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
	idSidecar  = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"
	idPauseWeb = "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3"
	idCoreDNS  = "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4"
	idMetrics  = "e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5"
	idPauseDNS = "f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6"
	idDocker   = "0707070707070707070707070707070707070707070707070707070707070707"
	idUnknown  = "0808080808080808080808080808080808080808080808080808080808080808"
)

// cgroupSpec is one fixture cgroup: its CPU seconds at t0 and the cores it
// burns afterwards, its memory, and the millisecond offset of its read.
type cgroupSpec struct {
	ref        cgroups.Ref
	info       container.Info
	started    time.Time
	cpu, cores float64
	mem        cgroups.MemoryStats
	readMs     int
	procs      uint64
	net        []procfs.NetDevLine
	noMemory   bool
}

func podPath(uid string) string {
	return "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uid + ".slice"
}

var fixtureCgroups = []cgroupSpec{
	{
		ref: cgroups.Ref{Path: "/", Kind: cgroups.KindRoot}, started: time.Date(2026, 4, 30, 8, 0, 0, 0, time.UTC),
		cpu: 123456.789012345, cores: 2.5, readMs: 0,
		mem: cgroups.MemoryStats{Usage: 8 << 30, WorkingSet: 6 << 30, RSS: 4 << 30, Swap: 256 << 20},
	},
	{
		ref:  cgroups.Ref{Path: podPath(uidWeb), Kind: cgroups.KindPod, PodUID: uidWeb, QOSClass: "burstable"},
		info: container.Info{Pod: "web-0", Namespace: "default"}, started: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC),
		cpu: 300.5, cores: 0.75, readMs: 1,
		mem: cgroups.MemoryStats{Usage: 300 << 20, WorkingSet: 200 << 20, RSS: 150 << 20, Limit: 512 << 20},
		net: []procfs.NetDevLine{
			{Name: "eth0", RxBytes: 1000, RxErrors: 1, TxBytes: 2000, TxErrors: 2},
			{Name: "eth1", RxBytes: 10, TxBytes: 20},
		},
	},
	{
		ref:  cgroups.Ref{Path: podPath(uidWeb) + "/cri-containerd-" + idApp + ".scope", Kind: cgroups.KindPodContainer, PodUID: uidWeb, ContainerID: idApp, Runtime: "containerd"},
		info: container.Info{Container: "app", Pod: "web-0", Namespace: "default", Image: "registry.example/web:1.2", Name: idApp}, started: time.Date(2026, 5, 1, 9, 0, 2, 500_000_000, time.UTC),
		cpu: 250.25, cores: 0.5, readMs: 2, procs: 3,
		mem: cgroups.MemoryStats{Usage: 250 << 20, WorkingSet: 180 << 20, RSS: 140 << 20, Swap: 1 << 20, Limit: 400 << 20},
	},
	{
		ref:  cgroups.Ref{Path: podPath(uidWeb) + "/cri-containerd-" + idSidecar + ".scope", Kind: cgroups.KindPodContainer, PodUID: uidWeb, ContainerID: idSidecar, Runtime: "containerd"},
		info: container.Info{Container: "sidecar", Pod: "web-0", Namespace: "default", Image: "registry.example/proxy:3", Name: idSidecar}, started: time.Date(2026, 5, 1, 9, 0, 3, 0, time.UTC),
		cpu: 50.125, cores: 0.25, readMs: 3, procs: 1,
		mem: cgroups.MemoryStats{Usage: 40 << 20, WorkingSet: 19 << 20, RSS: 9 << 20},
	},
	{ // containerd's sandbox: pod labels, no container name
		ref:  cgroups.Ref{Path: podPath(uidWeb) + "/cri-containerd-" + idPauseWeb + ".scope", Kind: cgroups.KindPodContainer, PodUID: uidWeb, ContainerID: idPauseWeb, Runtime: "containerd"},
		info: container.Info{Pod: "web-0", Namespace: "default", Image: "registry.k8s.io/pause:3.10", Name: idPauseWeb}, started: time.Date(2026, 5, 1, 9, 0, 1, 0, time.UTC),
		cpu: 0.05, readMs: 4, procs: 1,
		mem: cgroups.MemoryStats{Usage: 1 << 20, WorkingSet: 1 << 19},
	},
	{
		ref:  cgroups.Ref{Path: podPath(uidCoreDNS), Kind: cgroups.KindPod, PodUID: uidCoreDNS, QOSClass: "burstable"},
		info: container.Info{Pod: "coredns-7db6d8ff4d-x2x9k", Namespace: "kube-system"}, started: time.Date(2026, 4, 30, 8, 1, 0, 0, time.UTC),
		cpu: 4000, cores: 0.01, readMs: 5,
		mem: cgroups.MemoryStats{Usage: 70 << 20, WorkingSet: 50 << 20, RSS: 30 << 20, Limit: 170 << 20},
	},
	{
		ref:  cgroups.Ref{Path: podPath(uidCoreDNS) + "/crio-" + idCoreDNS + ".scope", Kind: cgroups.KindPodContainer, PodUID: uidCoreDNS, ContainerID: idCoreDNS, Runtime: "crio"},
		info: container.Info{Container: "coredns", Pod: "coredns-7db6d8ff4d-x2x9k", Namespace: "kube-system", Name: idCoreDNS}, started: time.Date(2026, 4, 30, 8, 1, 5, 0, time.UTC),
		cpu: 3900, cores: 0.008, readMs: 6, procs: 1,
		mem: cgroups.MemoryStats{Usage: 60 << 20, WorkingSet: 45 << 20, RSS: 28 << 20, Limit: 170 << 20},
	},
	{ // no memory controller: the kubelet reports a zero working set
		ref:  cgroups.Ref{Path: podPath(uidCoreDNS) + "/crio-" + idMetrics + ".scope", Kind: cgroups.KindPodContainer, PodUID: uidCoreDNS, ContainerID: idMetrics, Runtime: "crio"},
		info: container.Info{Container: "metrics", Pod: "coredns-7db6d8ff4d-x2x9k", Namespace: "kube-system", Name: idMetrics}, started: time.Date(2026, 4, 30, 8, 1, 6, 0, time.UTC),
		cpu: 99.5, cores: 0.001, readMs: 7, noMemory: true,
	},
	{ // CRI-O's sandbox is named "POD"
		ref:  cgroups.Ref{Path: podPath(uidCoreDNS) + "/crio-" + idPauseDNS + ".scope", Kind: cgroups.KindPodContainer, PodUID: uidCoreDNS, ContainerID: idPauseDNS, Runtime: "crio"},
		info: container.Info{Container: "POD", Pod: "coredns-7db6d8ff4d-x2x9k", Namespace: "kube-system", Name: idPauseDNS}, started: time.Date(2026, 4, 30, 8, 1, 1, 0, time.UTC),
		cpu: 0.5, readMs: 8, procs: 1,
		mem: cgroups.MemoryStats{Usage: 1 << 20, WorkingSet: 1 << 19},
	},
	{ // outside Kubernetes: not served
		ref:  cgroups.Ref{Path: "/system.slice/docker-" + idDocker + ".scope", Kind: cgroups.KindContainer, ContainerID: idDocker, Runtime: "docker"},
		info: container.Info{Name: "/registry", Image: "registry:2"}, started: time.Date(2026, 4, 30, 8, 2, 0, 0, time.UTC),
		cpu: 77, cores: 0.1, readMs: 9,
		mem: cgroups.MemoryStats{Usage: 20 << 20, WorkingSet: 10 << 20},
	},
	{ // a pod container the runtime did not name (yet): not served
		ref:  cgroups.Ref{Path: podPath(uidWeb) + "/cri-containerd-" + idUnknown + ".scope", Kind: cgroups.KindPodContainer, PodUID: uidWeb, ContainerID: idUnknown, Runtime: "containerd"},
		info: container.Info{Name: idUnknown}, started: time.Date(2026, 5, 1, 9, 59, 0, 0, time.UTC),
		cpu: 1, cores: 0.1, readMs: 10,
		mem: cgroups.MemoryStats{Usage: 2 << 20, WorkingSet: 1 << 20},
	},
	{
		ref: cgroups.Ref{Path: "/system.slice/containerd.service", Kind: cgroups.KindService, Service: "containerd.service"},
		cpu: 5000, cores: 0.2, readMs: 11,
		mem: cgroups.MemoryStats{Usage: 100 << 20, WorkingSet: 90 << 20},
	},
}

// fixtureSnapshot is the fixture read n*10 s after t0.
func fixtureSnapshot(n int) container.Snapshot {
	at := t0.Add(time.Duration(n) * 10 * time.Second)
	snap := container.Snapshot{Time: at}
	for _, c := range fixtureCgroups {
		st := cgroups.Stats{
			Timestamp: at.Add(time.Duration(c.readMs) * time.Millisecond),
			HasCPU:    true,
			CPU:       cgroups.CPUStats{UsageSeconds: c.cpu + c.cores*10*float64(n)},
			HasMemory: !c.noMemory,
			HasPids:   c.procs > 0,
			Processes: c.procs,
			Threads:   c.procs,
		}
		if !c.noMemory {
			st.Memory = c.mem
		}
		snap.Containers = append(snap.Containers, container.Container{
			Ref: c.ref, Info: c.info, Stats: st, StartTime: c.started,
			Network: append([]procfs.NetDevLine(nil), c.net...),
		})
	}
	return snap
}

// fakeSource serves snapshots in turn, then the last one again; err fails
// every call.
type fakeSource struct {
	mu    sync.Mutex
	snaps []container.Snapshot
	n     int
	err   error
}

func (f *fakeSource) Snapshot(context.Context) (container.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return container.Snapshot{}, f.err
	}
	s := f.snaps[min(f.n, len(f.snaps)-1)]
	f.n++
	return s, nil
}

var errFake = errors.New("no cgroup hierarchy found")

// fakeHost is a host with 16 GiB, booted at 2026-04-30T07:59:30Z.
type fakeHost struct{}

func (fakeHost) bootTime() (time.Time, error) {
	return time.Date(2026, 4, 30, 7, 59, 30, 0, time.UTC), nil
}
func (fakeHost) memTotal() (uint64, error) { return 16 << 30, nil }
func (fakeHost) netDev() ([]procfs.NetDevLine, error) {
	return []procfs.NetDevLine{
		{Name: "ens5", RxBytes: 9_000_000_000, RxErrors: 3, TxBytes: 7_000_000_000, TxErrors: 0},
		{Name: "eth0", RxBytes: 5_000_000, RxErrors: 0, TxBytes: 6_000_000, TxErrors: 1},
	}, nil
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// get serves one request and returns the response.
func get(t *testing.T, h http.Handler, target string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newSummary is NewSummaryHandler on the fake host.
func newSummary(src SnapshotSource) http.Handler {
	h := NewSummaryHandler(src, "node-a", discard())
	h.(*summaryHandler).host = fakeHost{}
	return h
}
