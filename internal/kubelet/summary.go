package kubelet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/procfs"

	"github.com/panoptes-dev/panoptes/internal/cgroups"
	"github.com/panoptes-dev/panoptes/internal/collector/container"
)

// SnapshotSource reads every cgroup now: *container.Collector.
type SnapshotSource interface {
	Snapshot(ctx context.Context) (container.Snapshot, error)
}

// errNoRoot is returned when a snapshot lacks the root cgroup: the kubelet
// fails a scrape for it too ("failed to get root cgroup stats").
var errNoRoot = errors.New("failed to get root cgroup stats: the snapshot has no root cgroup")

// podInfraContainerName is the name the kubelet gives the pod sandbox (CRI-O
// labels it so; containerd's sandbox has no container name at all).
const podInfraContainerName = "POD"

// defaultInterfaceName is the interface the kubelet flattens into
// NetworkStats.
const defaultInterfaceName = "eth0"

// maxMemorySize is the kubelet's threshold past which a memory limit means
// "unlimited" (isMemoryUnlimited).
const maxMemorySize = uint64(1 << 62)

// buildOptions says what a summary carries.
type buildOptions struct {
	// full is the full summary; false is what only_cpu_and_memory=true asks
	// for (and what /metrics/resource is built from).
	full bool
	// rates computes usageNanoCores; nil leaves it out.
	rates *rateTracker
	// host reads the node's boot time, memory size and network counters;
	// nil leaves them out.
	host hostReader
}

// isSandbox reports a pod sandbox (pause container) of a named pod.
func isSandbox(info container.Info) bool {
	return info.Container == "" || info.Container == podInfraContainerName
}

// buildSummary turns a snapshot into the Summary the kubelet would serve.
func buildSummary(snap *container.Snapshot, nodeName string, o buildOptions) (Summary, error) {
	// First pass: which cgroups are served, and their CPU readings.
	var root *container.Container
	type podEntry struct {
		ref        PodReference
		cgroup     *container.Container // the pod cgroup, nil if not seen
		sandbox    *container.Container
		containers []*container.Container
		processes  uint64
		hasPids    bool
	}
	pods := map[string]*podEntry{}
	pod := func(ct *container.Container) *podEntry {
		p := pods[ct.Ref.PodUID]
		if p == nil {
			p = &podEntry{ref: PodReference{Name: ct.Info.Pod, Namespace: ct.Info.Namespace, UID: ct.Ref.PodUID}}
			pods[ct.Ref.PodUID] = p
		}
		return p
	}
	var readings map[string]cpuReading
	if o.rates != nil {
		readings = make(map[string]cpuReading, len(snap.Containers))
	}
	for i := range snap.Containers {
		ct := &snap.Containers[i]
		switch ct.Ref.Kind {
		case cgroups.KindRoot:
			if root != nil {
				continue
			}
			root = ct
		case cgroups.KindPod, cgroups.KindPodContainer:
			// As the kubelet's isPodManagedContainer: a cgroup is a pod's
			// when it is known by pod name and namespace.
			if ct.Info.Pod == "" || ct.Info.Namespace == "" || ct.Ref.PodUID == "" {
				continue
			}
			p := pod(ct)
			if ct.Ref.Kind == cgroups.KindPod {
				p.cgroup, p.ref.Name, p.ref.Namespace = ct, ct.Info.Pod, ct.Info.Namespace
				break
			}
			if ct.Stats.HasPids {
				p.processes += ct.Stats.Processes
				p.hasPids = true
			}
			if isSandbox(ct.Info) {
				p.sandbox = ct
				continue // no CPU rate wanted
			}
			p.containers = append(p.containers, ct)
		default:
			continue
		}
		if readings != nil && ct.Stats.HasCPU {
			readings[ct.Ref.Path] = cpuReading{at: statsTime(snap, ct), ns: coreNanoSeconds(ct.Stats.CPU.UsageSeconds)}
		}
	}
	if root == nil {
		return Summary{}, errNoRoot
	}
	var rates map[string]uint64
	if o.rates != nil {
		rates = o.rates.update(readings)
	}

	s := Summary{Node: NodeStats{NodeName: nodeName}}
	s.Node.CPU, s.Node.Memory, s.Node.Swap = cpuMemorySwap(snap, root, rates)
	var boot time.Time
	if o.host != nil {
		if total, err := o.host.memTotal(); err == nil && s.Node.Memory.UsageBytes != nil {
			// cAdvisor gives the root cgroup the machine's memory as its
			// limit.
			if ws := *s.Node.Memory.WorkingSetBytes; total >= ws {
				s.Node.Memory.AvailableBytes = ptr(total - ws)
			}
		}
		boot, _ = o.host.bootTime()
		if o.full {
			if nd, err := o.host.netDev(); err == nil {
				s.Node.Network = networkStats(statsTime(snap, root), nd)
			}
		}
	}
	// The kubelet's node start time is the root cgroup's creation time in
	// the CPU-and-memory summary and the boot time in the full one.
	s.Node.StartTime = Time{root.StartTime}
	if (o.full || root.StartTime.IsZero()) && !boot.IsZero() {
		s.Node.StartTime = Time{boot}
	}

	s.Pods = make([]PodStats, 0, len(pods))
	for _, p := range pods {
		ps := PodStats{PodRef: p.ref}
		// The kubelet's pod start time is its sandbox's creation time.
		if p.sandbox != nil {
			ps.StartTime = Time{p.sandbox.StartTime}
		}
		if p.cgroup != nil {
			if ps.StartTime.IsZero() {
				ps.StartTime = Time{p.cgroup.StartTime}
			}
			ps.CPU, ps.Memory, ps.Swap = cpuMemorySwap(snap, p.cgroup, rates)
			if o.full && len(p.cgroup.Network) > 0 {
				ps.Network = networkStats(statsTime(snap, p.cgroup), p.cgroup.Network)
			}
		}
		if o.full && p.hasPids {
			ps.ProcessStats = &ProcessStats{ProcessCount: ptr(p.processes)}
		}
		if o.full && snap.Fs != nil && snap.Fs.RootFs != nil {
			ps.EphemeralStorage = ephemeralStorage(snap.Fs.RootFs, p.containers, snap.Fs.PodLogs[p.ref.UID])
		}
		if len(p.containers) > 0 {
			ps.Containers = make([]ContainerStats, 0, len(p.containers))
		}
		for _, ct := range p.containers {
			c := ContainerStats{Name: ct.Info.Container, StartTime: Time{ct.StartTime}}
			c.CPU, c.Memory, c.Swap = cpuMemorySwap(snap, ct, rates)
			if o.full && ct.Fs != nil {
				c.Rootfs, c.Logs = fsStats(ct.Fs.Rootfs), fsStats(ct.Fs.Logs)
			}
			ps.Containers = append(ps.Containers, c)
		}
		sort.SliceStable(ps.Containers, func(i, j int) bool { return ps.Containers[i].Name < ps.Containers[j].Name })
		s.Pods = append(s.Pods, ps)
	}
	// The kubelet's order is a map's; a stable one serves diffs and tests.
	sort.Slice(s.Pods, func(i, j int) bool {
		a, b := s.Pods[i].PodRef, s.Pods[j].PodRef
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.UID < b.UID
	})
	return s, nil
}

// statsTime is when a cgroup was read, the snapshot's time if unknown.
func statsTime(snap *container.Snapshot, ct *container.Container) time.Time {
	if !ct.Stats.Timestamp.IsZero() {
		return ct.Stats.Timestamp
	}
	return snap.Time
}

// coreNanoSeconds converts cumulative CPU seconds to the kubelet's integral
// nanoseconds.
func coreNanoSeconds(s float64) uint64 {
	if s <= 0 || math.IsNaN(s) {
		return 0
	}
	return uint64(math.Round(s * 1e9))
}

// cpuMemorySwap is the kubelet's cadvisorInfoToCPUandMemoryStats and
// cadvisorInfoToSwapStats: CPU always (0 without the controller), memory
// always (a zero working set without the controller), swap with memory.
// rates holds usageNanoCores by cgroup path.
func cpuMemorySwap(snap *container.Snapshot, ct *container.Container, rates map[string]uint64) (*CPUStats, *MemoryStats, *SwapStats) {
	at := Time{statsTime(snap, ct)}
	st := &ct.Stats
	cpu := &CPUStats{Time: at, UsageCoreNanoSeconds: ptr(uint64(0))}
	if st.HasCPU {
		cpu.UsageCoreNanoSeconds = ptr(coreNanoSeconds(st.CPU.UsageSeconds))
		if r, ok := rates[ct.Ref.Path]; ok {
			cpu.UsageNanoCores = ptr(r)
		}
	}
	if !st.HasMemory {
		return cpu, &MemoryStats{Time: at, WorkingSetBytes: ptr(uint64(0))}, nil
	}
	m := &st.Memory
	mem := &MemoryStats{
		Time:            at,
		UsageBytes:      ptr(m.Usage),
		WorkingSetBytes: ptr(m.WorkingSet),
		RSSBytes:        ptr(m.RSS),
	}
	if m.Limit > 0 && m.Limit <= maxMemorySize && m.Limit >= m.WorkingSet {
		mem.AvailableBytes = ptr(m.Limit - m.WorkingSet)
	}
	return cpu, mem, &SwapStats{Time: at, SwapUsageBytes: ptr(m.Swap)}
}

// networkStats is the kubelet's cadvisorInfoToNetworkStats: every interface
// listed (by name here; cAdvisor's order), the default one flattened in.
func networkStats(at time.Time, lines []procfs.NetDevLine) *NetworkStats {
	ns := &NetworkStats{Time: Time{at}, Interfaces: make([]InterfaceStats, 0, len(lines))}
	for _, l := range lines {
		is := InterfaceStats{
			Name:     l.Name,
			RxBytes:  ptr(l.RxBytes),
			RxErrors: ptr(l.RxErrors),
			TxBytes:  ptr(l.TxBytes),
			TxErrors: ptr(l.TxErrors),
		}
		if l.Name == defaultInterfaceName {
			ns.InterfaceStats = is
		}
		ns.Interfaces = append(ns.Interfaces, is)
	}
	sort.Slice(ns.Interfaces, func(i, j int) bool { return ns.Interfaces[i].Name < ns.Interfaces[j].Name })
	return ns
}

func ptr[T any](v T) *T { return &v }

// fsStats copies a measurement into the Summary's shape; nil stays nil.
func fsStats(s *container.FsStats) *FsStats {
	if s == nil {
		return nil
	}
	return &FsStats{
		Time:           Time{s.Time},
		AvailableBytes: s.AvailableBytes,
		CapacityBytes:  s.CapacityBytes,
		UsedBytes:      s.UsedBytes,
		InodesFree:     s.InodesFree,
		Inodes:         s.Inodes,
		InodesUsed:     s.InodesUsed,
	}
}

// ephemeralStorage is the kubelet's calcEphemeralStorage as its CRI stats
// provider calls it: the root filesystem's size, and the sum of the
// containers' writable layers and logs (bytes and inodes) and of the pod's
// own log files, at the latest of their times.
func ephemeralStorage(root *container.FsStats, containers []*container.Container, podLogs *container.FsStats) *FsStats {
	es := fsStats(root)
	es.UsedBytes, es.InodesUsed = nil, nil
	add := func(s *container.FsStats) {
		if s == nil {
			return
		}
		es.UsedBytes = addUsage(es.UsedBytes, s.UsedBytes)
		es.InodesUsed = addUsage(es.InodesUsed, s.InodesUsed)
		if s.Time.After(es.Time.Time) {
			es.Time = Time{s.Time}
		}
	}
	for _, ct := range containers {
		// As addContainerUsage: the logs count with a writable layer only.
		if ct.Fs != nil && ct.Fs.Rootfs != nil {
			add(ct.Fs.Rootfs)
			add(ct.Fs.Logs)
		}
	}
	add(podLogs)
	return es
}

// addUsage is the kubelet's: the sum, or whichever is known.
func addUsage(a, b *uint64) *uint64 {
	switch {
	case a == nil:
		if b == nil {
			return nil
		}
		return ptr(*b)
	case b == nil:
		return a
	}
	return ptr(*a + *b)
}

// cpuReading is a cgroup's cumulative CPU time at one moment.
type cpuReading struct {
	at time.Time
	ns uint64
}

// rateTracker keeps each cgroup's last CPU reading and the rate computed at
// it, as cAdvisor keeps a container's previous stats for CpuInst.
type rateTracker struct {
	mu      sync.Mutex
	entries map[string]*rateEntry
}

type rateEntry struct {
	last    cpuReading
	rate    uint64
	hasRate bool
}

// update records a snapshot's readings and returns the rate of each cgroup
// read at least twice: (delta ns) / (delta seconds) between its last two
// readings. A reading no newer than the last one (the same snapshot served
// twice, or an older one from a concurrent request) returns the rate already
// known; a counter that went backwards (a new cgroup at the same path) starts
// over. Cgroups missing from the readings are forgotten.
func (r *rateTracker) update(readings map[string]cpuReading) map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.entries == nil {
		r.entries = make(map[string]*rateEntry, len(readings))
	}
	rates := make(map[string]uint64, len(readings))
	for path, cur := range readings {
		e := r.entries[path]
		switch {
		case e == nil:
			r.entries[path] = &rateEntry{last: cur}
			continue
		case cur.at.After(e.last.at):
			if cur.ns >= e.last.ns {
				// cAdvisor's instCpuStats arithmetic.
				dt := float64(cur.at.Sub(e.last.at).Nanoseconds())
				e.rate, e.hasRate = uint64(float64(cur.ns-e.last.ns)/dt*1e9), true
			} else {
				e.hasRate = false
			}
			e.last = cur
		}
		if e.hasRate {
			rates[path] = e.rate
		}
	}
	for path := range r.entries {
		if _, ok := readings[path]; !ok {
			delete(r.entries, path)
		}
	}
	return rates
}

// SummaryOption configures NewSummaryHandler.
type SummaryOption func(*summaryHandler)

// WithProcRoot reads the host's boot time, memory size and network counters
// (/proc/stat, /proc/meminfo, /proc/1/net/dev) under dir instead of /proc:
// the host's /proc where the agent runs in a container.
func WithProcRoot(dir string) SummaryOption {
	return func(h *summaryHandler) { h.host = procHost{root: dir} }
}

type summaryHandler struct {
	src      SnapshotSource
	nodeName string
	logger   *slog.Logger
	host     hostReader
	rates    rateTracker
}

// NewSummaryHandler serves the kubelet's /stats/summary: the Summary API
// (stats/v1alpha1) as the kubelet's cAdvisor stats provider builds it, or
// only its CPU and memory figures when asked with only_cpu_and_memory=true.
// nodeName is the node's name in the Kubernetes API.
func NewSummaryHandler(src SnapshotSource, nodeName string, logger *slog.Logger, opts ...SummaryOption) http.Handler {
	h := &summaryHandler{src: src, nodeName: nodeName, logger: logger, host: procHost{root: "/proc"}}
	for _, o := range opts {
		o(h)
	}
	return h
}

func (h *summaryHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if err := r.ParseForm(); err != nil {
		h.fail(w, fmt.Errorf("parse form failed: %w", err))
		return
	}
	// As the kubelet: exactly one only_cpu_and_memory, exactly "true".
	onlyCPUAndMemory := false
	if v, ok := r.Form["only_cpu_and_memory"]; ok && len(v) == 1 && v[0] == "true" {
		onlyCPUAndMemory = true
	}
	snap, err := h.src.Snapshot(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	s, err := buildSummary(&snap, h.nodeName, buildOptions{full: !onlyCPUAndMemory, rates: &h.rates, host: h.host})
	if err != nil {
		h.fail(w, err)
		return
	}
	// go-restful's pretty printing, which the kubelet leaves on.
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		h.fail(w, err)
		return
	}
	writeBody(w, r, "application/json", b, h.logger)
}

// fail answers as the kubelet's handleError does.
func (h *summaryHandler) fail(w http.ResponseWriter, err error) {
	h.logger.Error("serving /stats/summary", "err", err)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len("Internal Error: ")+len(err.Error())))
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte("Internal Error: " + err.Error()))
}
