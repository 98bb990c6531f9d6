package container

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"

	"github.com/panoptes-dev/panoptes/internal/cgroups"
	"github.com/panoptes-dev/panoptes/internal/collector"
)

// Config configures the container collector.
type Config struct {
	// ProcRoot, SysRoot and RootFS are the host's /proc, /sys and /.
	ProcRoot, SysRoot, RootFS string
	// AllCgroups reports every cgroup, not only the root, pods, containers
	// and services (cAdvisor's raw cgroups); off by default for cardinality.
	AllCgroups bool
	// Fs, if not nil, reports each container's writable layer: with it the
	// collector reports container_fs_usage_bytes, container_fs_limit_bytes
	// and container_fs_inodes_{free,total} from the layer and the
	// container's log directory under /var/log/pods.
	Fs FsSource
	// FsUsagePeriod is how often that usage is measured (in the background,
	// while scrapes ask for it); 0 means DefaultFsUsagePeriod, and a
	// negative value turns the measurement off.
	FsUsagePeriod time.Duration
	// RuntimeEndpoints are the CRI sockets the Namer asks, reported (with
	// what is at each path) in panoptes_container_runtime_endpoint_info, so
	// that a host without containers can say what was looked for.
	RuntimeEndpoints []string
	// KmsgPath is the kernel log device (/dev/kmsg) read for OOM kills, so
	// that a container killed and removed between two scrapes is counted
	// in container_oom_events_total; "" reads none.
	KmsgPath string
}

// Info is what a Namer knows of a container.
type Info struct {
	Container, Pod, Namespace, Image, Name string
}

// Namer names containers and pods; cmd/ wires it to the CRI resolver. A nil
// Namer leaves the names empty, and the container ID stands in "name".
type Namer interface {
	// Container returns the names of a runtime container ID.
	Container(ctx context.Context, id string) (Info, bool)
	// Pod returns the name and namespace of a pod UID.
	Pod(ctx context.Context, uid string) (name, namespace string, ok bool)
}

// machineLabels are the labels cAdvisor puts on machine_* series.
var machineLabels = []string{"boot_id", "machine_id", "system_uuid"}

// baseLabels are the labels the kubelet's cAdvisor puts on every container
// series.
var baseLabels = []string{"container", "id", "image", "name", "namespace", "pod"}

// Collector reports container metrics; it implements collector.Collector.
type Collector struct {
	cfg    Config
	namer  Namer
	logger *slog.Logger

	mu        sync.Mutex
	hierarchy *cgroups.Hierarchy   // detected on first use
	devices   map[[2]uint64]string // major:minor -> /dev/name, for the device label
	ids       *[3]string           // machine labels, read once

	fs fsState // containers' filesystem usage, with Config.Fs

	found *discovery // what the last walk found, by kind

	oom      oomTracker // container_oom_events_total by container identity
	kmsgOnce sync.Once  // starts the kernel log reader on the first Snapshot

	errorsTotal prometheus.Counter

	cpuUsage, cpuUser, cpuSystem                    collector.TypedDesc
	cfsPeriods, cfsThrottledPeriods, cfsThrottled   collector.TypedDesc
	memUsage, memWorkingSet, memRSS, memCache       collector.TypedDesc
	memSwap, memMapped, memFailcnt, oomEvents       collector.TypedDesc
	specQuota, specPeriod, specShares, specMemLimit collector.TypedDesc
	fsReadBytes, fsWriteBytes, fsReads, fsWrites    collector.TypedDesc
	netRxBytes, netRxPackets, netRxDropped, netRxErrors,
	netTxBytes, netTxPackets, netTxDropped, netTxErrors collector.TypedDesc
	processes, threads, startTime, lastSeen collector.TypedDesc
	machineCores, machineMemory             collector.TypedDesc
}

var _ collector.Collector = (*Collector)(nil)

func desc(name, help string, t prometheus.ValueType, extra ...string) collector.TypedDesc {
	return collector.NewRawTypedDesc(name, help, t, append(append([]string(nil), baseLabels...), extra...)...)
}

// New returns the container collector. errorsTotal, if not nil, counts the
// cgroups whose files could not be read
// (panoptes_collector_errors_total{collector="container"}).
func New(cfg Config, namer Namer, errorsTotal prometheus.Counter, logger *slog.Logger) *Collector {
	g, c := prometheus.GaugeValue, prometheus.CounterValue
	return &Collector{
		cfg: cfg, namer: namer, logger: logger, errorsTotal: errorsTotal,
		cpuUsage:            desc("container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", c, "cpu"),
		cpuUser:             desc("container_cpu_user_seconds_total", "Cumulative user cpu time consumed in seconds.", c),
		cpuSystem:           desc("container_cpu_system_seconds_total", "Cumulative system cpu time consumed in seconds.", c),
		cfsPeriods:          desc("container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals.", c),
		cfsThrottledPeriods: desc("container_cpu_cfs_throttled_periods_total", "Number of throttled period intervals.", c),
		cfsThrottled:        desc("container_cpu_cfs_throttled_seconds_total", "Total time duration the container has been throttled.", c),
		memUsage:            desc("container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed", g),
		memWorkingSet:       desc("container_memory_working_set_bytes", "Current working set in bytes.", g),
		memRSS:              desc("container_memory_rss", "Size of RSS in bytes.", g),
		memCache:            desc("container_memory_cache", "Number of bytes of page cache memory.", g),
		memSwap:             desc("container_memory_swap", "Container swap usage in bytes.", g),
		memMapped:           desc("container_memory_mapped_file", "Size of memory mapped files in bytes.", g),
		memFailcnt:          desc("container_memory_failcnt", "Number of memory usage hits limits", c),
		oomEvents:           desc("container_oom_events_total", "Count of out of memory events observed for the container", c),
		specQuota:           desc("container_spec_cpu_quota", "CPU quota of the container.", g),
		specPeriod:          desc("container_spec_cpu_period", "CPU period of the container.", g),
		specShares:          desc("container_spec_cpu_shares", "CPU share of the container.", g),
		specMemLimit:        desc("container_spec_memory_limit_bytes", "Memory limit for the container.", g),
		fsReadBytes:         desc("container_fs_reads_bytes_total", "Cumulative count of bytes read", c, "device"),
		fsWriteBytes:        desc("container_fs_writes_bytes_total", "Cumulative count of bytes written", c, "device"),
		fsReads:             desc("container_fs_reads_total", "Cumulative count of reads completed", c, "device"),
		fsWrites:            desc("container_fs_writes_total", "Cumulative count of writes completed", c, "device"),
		netRxBytes:          desc("container_network_receive_bytes_total", "Cumulative count of bytes received", c, "interface"),
		netRxPackets:        desc("container_network_receive_packets_total", "Cumulative count of packets received", c, "interface"),
		netRxDropped:        desc("container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving", c, "interface"),
		netRxErrors:         desc("container_network_receive_errors_total", "Cumulative count of errors encountered while receiving", c, "interface"),
		netTxBytes:          desc("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted", c, "interface"),
		netTxPackets:        desc("container_network_transmit_packets_total", "Cumulative count of packets transmitted", c, "interface"),
		netTxDropped:        desc("container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting", c, "interface"),
		netTxErrors:         desc("container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting", c, "interface"),
		processes:           desc("container_processes", "Number of processes running inside the container.", g),
		threads:             desc("container_threads", "Number of threads running inside the container", g),
		startTime:           desc("container_start_time_seconds", "Start time of the container since unix epoch in seconds.", g),
		lastSeen:            desc("container_last_seen", "Last time a container was seen by the exporter", g),
		machineCores:        collector.NewRawTypedDesc("machine_cpu_cores", "Number of logical CPU cores.", g, machineLabels...),
		machineMemory:       collector.NewRawTypedDesc("machine_memory_bytes", "Amount of memory installed on the machine.", g, machineLabels...),
	}
}

// Snapshot is one read of every container: what the collector exports and
// what the kubelet-shaped endpoints serve.
type Snapshot struct {
	Time       time.Time
	Containers []Container
	// Fs is the last measurement of the containers' filesystem usage (the
	// figures in Container.Fs); nil without one.
	Fs *FsUsage
}

// Container is one cgroup with its names and stats.
type Container struct {
	Ref     cgroups.Ref
	Info    Info
	Stats   cgroups.Stats
	Network []procfs.NetDevLine
	// StartTime is when the cgroup was created (its directory's change
	// time), the zero time when unknown.
	StartTime time.Time
	// Fs is the container's writable layer and logs from the last
	// measurement; nil if it has none.
	Fs *Fs
}

// ErrNoCgroups is returned when the host has no cgroup hierarchy the agent
// can read (wraps collector.ErrNoData).
var ErrNoCgroups = fmt.Errorf("no cgroup hierarchy found: %w", collector.ErrNoData)

func (c *Collector) detect() (cgroups.Hierarchy, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hierarchy != nil {
		return *c.hierarchy, nil
	}
	h, err := cgroups.Detect(c.cfg.ProcRoot, c.cfg.SysRoot)
	if err != nil {
		return cgroups.Hierarchy{}, fmt.Errorf("%w: %w", ErrNoCgroups, err)
	}
	if h.Unified == "" && len(h.V1) == 0 {
		return cgroups.Hierarchy{}, ErrNoCgroups
	}
	c.hierarchy = &h
	return h, nil
}

// Snapshot reads every container now.
func (c *Collector) Snapshot(ctx context.Context) (Snapshot, error) {
	h, err := c.detect()
	if err != nil {
		return Snapshot{}, err
	}
	if c.cfg.KmsgPath != "" {
		c.kmsgOnce.Do(func() { watchKmsg(c.cfg.KmsgPath, func(memcg string) { c.oomLogged(h, memcg) }, c.logger) })
	}
	refs, others, err := h.DiscoverCount(c.cfg.AllCgroups)
	if err != nil {
		return Snapshot{}, fmt.Errorf("discover cgroups: %w", err)
	}
	c.record(refs, others)
	snap := Snapshot{Time: time.Now(), Containers: make([]Container, 0, len(refs))}
	read := c.readAll(ctx, h, refs)
	podPID := map[string]int{} // pod UID -> a PID of one of its containers
	for i, ref := range refs {
		r := &read[i]
		if r.err != nil {
			if errors.Is(r.err, fs.ErrNotExist) {
				continue // gone mid-scrape: skip silently
			}
			// A bad file drops only its controller's families (Read left
			// it out); the rest of the container is still reported.
			c.countError(ref.Path, r.err)
		}
		st := r.stats
		if ref.Kind == cgroups.KindRoot && !st.HasMemory {
			c.rootMemory(&st)
		}
		ct := Container{Ref: ref, Stats: st, StartTime: r.start}
		ct.Info = c.names(ctx, ref)
		if ref.Kind == cgroups.KindPodContainer && st.PID != 0 {
			if _, ok := podPID[ref.PodUID]; !ok {
				podPID[ref.PodUID] = st.PID
			}
		}
		snap.Containers = append(snap.Containers, ct)
	}
	// OOM kills by container identity, across the container's cgroups; a
	// read cut short (ctx) leaves cgroups out that may still be there.
	c.oom.apply(snap.Containers, snap.Time, ctx.Err() == nil)
	c.attachFs(&snap)
	// Network counters belong to a network namespace: read them through one
	// process of each pod (all its containers share the pod's namespace) and
	// of each plain container.
	for i := range snap.Containers {
		ct := &snap.Containers[i]
		pid := 0
		switch ct.Ref.Kind {
		case cgroups.KindPod:
			pid = podPID[ct.Ref.PodUID]
		case cgroups.KindContainer:
			pid = ct.Stats.PID
		}
		if pid != 0 {
			ct.Network = c.network(pid)
		}
	}
	return snap, nil
}

// readers is how many cgroups are read at once. Reading cgroup files is
// kernel work in system calls, which run on threads of their own even at
// GOMAXPROCS=1, so a few readers cut a scrape's latency on a multi-core node
// without adding CPU.
const readers = 4

type readResult struct {
	stats cgroups.Stats
	start time.Time
	err   error
}

// readAll reads every cgroup's stats and start time, a few at a time; a
// cancelled context leaves the rest unread (reported as gone).
func (c *Collector) readAll(ctx context.Context, h cgroups.Hierarchy, refs []cgroups.Ref) []readResult {
	out := make([]readResult, len(refs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(readers, len(refs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				st, err := h.Read(refs[i].Path)
				out[i] = readResult{stats: st, start: h.StartTime(refs[i].Path), err: err}
			}
		}()
	}
	for i := range refs {
		if ctx.Err() != nil {
			for ; i < len(refs); i++ {
				out[i].err = fs.ErrNotExist
			}
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

func (c *Collector) countError(path string, err error) {
	if c.errorsTotal != nil {
		c.errorsTotal.Inc()
	}
	c.logger.Debug("reading cgroup", "path", path, "err", err)
}

// names asks the Namer, falling back to what the path says.
func (c *Collector) names(ctx context.Context, ref cgroups.Ref) Info {
	var info Info
	switch ref.Kind {
	case cgroups.KindPodContainer, cgroups.KindContainer:
		if c.namer != nil {
			if i, ok := c.namer.Container(ctx, ref.ContainerID); ok {
				return i
			}
		}
		info.Name = ref.ContainerID
	case cgroups.KindPod:
		if c.namer != nil {
			info.Pod, info.Namespace, _ = c.namer.Pod(ctx, ref.PodUID)
		}
	case cgroups.KindService:
		info.Name = ref.Service
	}
	return info
}

// ignoredInterface reports interfaces cAdvisor leaves out of container
// network stats: loopback and the host ends of container links.
func ignoredInterface(name string) bool {
	for _, p := range []string{"lo", "veth", "docker", "nerdctl"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func (c *Collector) network(pid int) []procfs.NetDevLine {
	fs, err := procfs.NewFS(c.cfg.ProcRoot)
	if err != nil {
		return nil
	}
	p, err := fs.Proc(pid)
	if err != nil {
		return nil
	}
	nd, err := p.NetDev()
	if err != nil {
		return nil // the process exited: no network stats this time
	}
	out := make([]procfs.NetDevLine, 0, len(nd))
	for name, line := range nd {
		if !ignoredInterface(name) {
			out = append(out, line)
		}
	}
	return out
}

// Update implements collector.Collector.
func (c *Collector) Update(ctx context.Context, ch *collector.Sink) error {
	snap, err := c.Snapshot(ctx)
	c.mu.Lock()
	h := c.hierarchy
	c.mu.Unlock()
	c.emitDiscovery(ch, h)
	if err != nil {
		return err
	}
	for i := range snap.Containers {
		c.emit(ch, &snap.Containers[i])
	}
	if err := c.machine(ch); err != nil {
		return err
	}
	return nil
}

func (c *Collector) emit(ch *collector.Sink, ct *Container) {
	st := &ct.Stats
	at := st.Timestamp
	l := []string{ct.Info.Container, ct.Ref.Path, ct.Info.Image, ct.Info.Name, ct.Info.Namespace, ct.Info.Pod}
	with := func(extra string) []string { return append(append(make([]string, 0, 7), l...), extra) }
	send := func(d collector.TypedDesc, v float64) { ch.Send(d.MetricAt(at, v, l...)) }

	if st.HasCPU {
		ch.Send(c.cpuUsage.MetricAt(at, st.CPU.UsageSeconds, with("total")...))
		send(c.cpuUser, st.CPU.UserSeconds)
		send(c.cpuSystem, st.CPU.SystemSeconds)
		// As cAdvisor: CFS counters only where bandwidth control ran, the
		// quota only where one is set.
		if st.CPU.Periods > 0 {
			send(c.cfsPeriods, float64(st.CPU.Periods))
			send(c.cfsThrottledPeriods, float64(st.CPU.ThrottledPeriods))
			send(c.cfsThrottled, st.CPU.ThrottledSeconds)
		}
		// The spec only where the cgroup is in the cpu hierarchy (not a
		// v1 cgroup in cpuacct alone), as cAdvisor's Spec.HasCpu.
		if st.CPU.HasSpec {
			if st.CPU.QuotaMicros > 0 {
				send(c.specQuota, float64(st.CPU.QuotaMicros))
			}
			send(c.specPeriod, float64(st.CPU.PeriodMicros))
			send(c.specShares, float64(st.CPU.Shares))
		}
	}
	if st.HasMemory {
		m := &st.Memory
		send(c.memUsage, float64(m.Usage))
		send(c.memWorkingSet, float64(m.WorkingSet))
		send(c.memRSS, float64(m.RSS))
		send(c.memCache, float64(m.Cache))
		send(c.memSwap, float64(m.Swap))
		send(c.memMapped, float64(m.MappedFile))
		send(c.memFailcnt, float64(m.Failcnt))
		send(c.oomEvents, float64(m.OOMKills))
		send(c.specMemLimit, float64(m.Limit))
	}
	for _, io := range st.IO {
		dev := c.deviceName(io.Major, io.Minor)
		ch.Send(c.fsReadBytes.MetricAt(at, float64(io.ReadBytes), with(dev)...))
		ch.Send(c.fsWriteBytes.MetricAt(at, float64(io.WriteBytes), with(dev)...))
		ch.Send(c.fsReads.MetricAt(at, float64(io.Reads), with(dev)...))
		ch.Send(c.fsWrites.MetricAt(at, float64(io.Writes), with(dev)...))
	}
	for _, n := range ct.Network {
		iface := n.Name
		ch.Send(c.netRxBytes.MetricAt(at, float64(n.RxBytes), with(iface)...))
		ch.Send(c.netRxPackets.MetricAt(at, float64(n.RxPackets), with(iface)...))
		ch.Send(c.netRxDropped.MetricAt(at, float64(n.RxDropped), with(iface)...))
		ch.Send(c.netRxErrors.MetricAt(at, float64(n.RxErrors), with(iface)...))
		ch.Send(c.netTxBytes.MetricAt(at, float64(n.TxBytes), with(iface)...))
		ch.Send(c.netTxPackets.MetricAt(at, float64(n.TxPackets), with(iface)...))
		ch.Send(c.netTxDropped.MetricAt(at, float64(n.TxDropped), with(iface)...))
		ch.Send(c.netTxErrors.MetricAt(at, float64(n.TxErrors), with(iface)...))
	}
	c.emitFs(ch, at, ct.Fs, with)
	if st.HasPids {
		send(c.processes, float64(st.Processes))
		send(c.threads, float64(st.Threads))
	}
	if !ct.StartTime.IsZero() {
		send(c.startTime, float64(ct.StartTime.UnixNano())/1e9)
	}
	send(c.lastSeen, float64(at.Unix()))
}

// rootMemory fills the root cgroup's memory from /proc/meminfo where the
// hierarchy has no memory files for it (cgroup v2's root), as runc and
// cAdvisor do: usage is what is not free, the working set that less the
// inactive file pages.
func (c *Collector) rootMemory(st *cgroups.Stats) {
	fs, err := procfs.NewFS(c.cfg.ProcRoot)
	if err != nil {
		return
	}
	mi, err := fs.Meminfo()
	if err != nil || mi.MemTotalBytes == nil || mi.MemFreeBytes == nil {
		return
	}
	usage := *mi.MemTotalBytes - *mi.MemFreeBytes
	ws := usage
	if mi.InactiveFileBytes != nil && *mi.InactiveFileBytes < ws {
		ws -= *mi.InactiveFileBytes
	}
	st.HasMemory = true
	st.Memory.Usage, st.Memory.WorkingSet = usage, ws
	if mi.AnonPagesBytes != nil {
		st.Memory.RSS = *mi.AnonPagesBytes
	}
	if mi.CachedBytes != nil {
		st.Memory.Cache = *mi.CachedBytes
	}
}

// machineIDs returns cAdvisor's machine labels: the boot ID, the machine ID
// (/etc/machine-id, else D-Bus's copy) and the DMI product UUID, each empty
// when unreadable (a VM without DMI, a container without the host's /etc).
// They are read once: they change only across a reboot, which restarts the
// agent too.
func (c *Collector) machineIDs() [3]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ids != nil {
		return *c.ids
	}
	first := func(paths ...string) string {
		for _, p := range paths {
			if b, err := os.ReadFile(p); err == nil {
				if v := strings.TrimSpace(string(b)); v != "" {
					return v
				}
			}
		}
		return ""
	}
	root := c.cfg.RootFS
	if root == "" {
		root = "/"
	}
	ids := [3]string{
		first(filepath.Join(c.cfg.ProcRoot, "sys/kernel/random/boot_id")),
		first(filepath.Join(root, "etc/machine-id"), filepath.Join(root, "var/lib/dbus/machine-id")),
		first(filepath.Join(c.cfg.SysRoot, "class/dmi/id/product_uuid")),
	}
	c.ids = &ids
	return ids
}

// deviceName names a block device as cAdvisor's device label does
// ("/dev/vda"), from /sys/dev/block/<major>:<minor>, falling back to
// "major:minor". Names are cached: devices come and go rarely.
func (c *Collector) deviceName(major, minor uint64) string {
	k := [2]uint64{major, minor}
	c.mu.Lock()
	defer c.mu.Unlock()
	if name, ok := c.devices[k]; ok {
		return name
	}
	id := strconv.FormatUint(major, 10) + ":" + strconv.FormatUint(minor, 10)
	name := id
	if target, err := os.Readlink(filepath.Join(c.cfg.SysRoot, "dev", "block", id)); err == nil {
		name = "/dev/" + filepath.Base(target)
	}
	if c.devices == nil {
		c.devices = map[[2]uint64]string{}
	}
	if len(c.devices) < 4096 {
		c.devices[k] = name
	}
	return name
}

// machine reports machine_cpu_cores and machine_memory_bytes.
func (c *Collector) machine(ch *collector.Sink) error {
	fs, err := procfs.NewFS(c.cfg.ProcRoot)
	if err != nil {
		return fmt.Errorf("open procfs: %w", err)
	}
	st, err := fs.Stat()
	if err != nil {
		return fmt.Errorf("read stat: %w", err)
	}
	mi, err := fs.Meminfo()
	if err != nil {
		return fmt.Errorf("read meminfo: %w", err)
	}
	ids := c.machineIDs()
	ch.Send(c.machineCores.Metric(float64(len(st.CPU)), ids[:]...))
	if mi.MemTotalBytes != nil {
		ch.Send(c.machineMemory.Metric(float64(*mi.MemTotalBytes), ids[:]...))
	}
	return nil
}

// oomLogged counts a kill the kernel log reported in the cgroup memcg for
// the incarnation last read there, if it is still the same cgroup.
func (c *Collector) oomLogged(h cgroups.Hierarchy, memcg string) {
	var start int64
	if t := h.StartTime(memcg); !t.IsZero() {
		start = t.UnixNano()
	}
	if !c.oom.logged(memcg, start) {
		c.logger.Debug("OOM kill in a cgroup not read yet: left to its counter", "memcg", memcg)
	}
}
