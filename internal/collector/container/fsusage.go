package container

import (
	"bufio"
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
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// DefaultFsUsagePeriod is how often the containers' filesystem usage is
// measured: the kubelet's default --volume-stats-agg-period, the cadence at
// which it walks pod volumes (and cAdvisor's fsHandler its layers).
const DefaultFsUsagePeriod = time.Minute

// PodLogsDir is where the kubelet keeps container logs on the host:
// <ns>_<pod>_<uid>/<container>/<restart>.log.
const PodLogsDir = "/var/log/pods"

// kubeletRootDir is the kubelet's --root-dir, whose filesystem is the
// kubelet's "rootfs" (the capacity of logs and of pods' ephemeral storage).
const kubeletRootDir = "/var/lib/kubelet"

// FsSource lists the containers' writable layers (the CRI's
// ListContainerStats); cmd/ wires it to internal/cri.
type FsSource interface {
	WritableLayers(ctx context.Context) ([]Layer, error)
}

// Layer is one container's writable layer as the runtime reports it.
type Layer struct {
	// ID is the runtime's container ID (as in the cgroup path).
	ID string
	// Container, Pod, Namespace and PodUID name the container's log
	// directory.
	Container, Pod, Namespace, PodUID string
	// Mountpoint is a directory on the filesystem holding the layer (the
	// CRI's fs_id), a host path; "" if unknown.
	Mountpoint string
	// UsedBytes and InodesUsed are nil when the runtime did not say.
	UsedBytes, InodesUsed *uint64
	// Time is when the runtime measured them; zero if it did not say.
	Time time.Time
}

// FsStats is the kubelet's FsStats for one use of a filesystem, with the
// device that cAdvisor's device label names. Nil fields are unknown.
type FsStats struct {
	Time time.Time
	// Device is the filesystem's device ("/dev/vda1"), the "device" label of
	// container_fs_*.
	Device string
	// AvailableBytes, CapacityBytes, InodesFree and Inodes describe the
	// whole filesystem (statfs).
	AvailableBytes, CapacityBytes, InodesFree, Inodes *uint64
	// UsedBytes and InodesUsed are this use's share of it.
	UsedBytes, InodesUsed *uint64
}

// Fs is a container's filesystem usage: its writable layer and its
// log directory, as the kubelet's rootfs and logs.
type Fs struct {
	Rootfs, Logs *FsStats
}

// FsUsage is one measurement of every container's filesystem usage.
type FsUsage struct {
	// Containers are by container ID.
	Containers map[string]*Fs
	// PodLogs are the files directly in each pod's log directory (not its
	// containers'), by pod UID: the kubelet counts them in the pod's
	// ephemeral storage.
	PodLogs map[string]*FsStats
	// RootFs is the kubelet's root filesystem, without usage: the capacity
	// the kubelet reports for logs and ephemeral storage.
	RootFs *FsStats
}

// fsState is the collector's filesystem usage: the tracker and the
// families, made on first use (nil tracker without Config.Fs).
type fsState struct {
	once                             sync.Once
	tracker                          *fsTracker
	usage, limit, inodesFree, inodes collector.TypedDesc
}

// fsTracker returns the collector's tracker, nil if fs usage is off.
func (c *Collector) fsTracker() *fsTracker {
	c.fs.once.Do(func() {
		g := prometheus.GaugeValue
		c.fs.usage = desc("container_fs_usage_bytes", "Number of bytes that are consumed by the container on this filesystem.", g, "device")
		c.fs.limit = desc("container_fs_limit_bytes", "Number of bytes that can be consumed by the container on this filesystem.", g, "device")
		c.fs.inodesFree = desc("container_fs_inodes_free", "Number of available Inodes", g, "device")
		c.fs.inodes = desc("container_fs_inodes_total", "Number of Inodes", g, "device")
		if c.cfg.Fs == nil || c.cfg.FsUsagePeriod < 0 {
			return
		}
		period := c.cfg.FsUsagePeriod
		if period == 0 {
			period = DefaultFsUsagePeriod
		}
		proc, root := c.cfg.ProcRoot, c.cfg.RootFS
		if proc == "" {
			proc = "/proc"
		}
		if root == "" {
			root = "/"
		}
		logger := c.logger
		if logger == nil {
			logger = slog.New(slog.DiscardHandler)
		}
		c.fs.tracker = &fsTracker{src: c.cfg.Fs, period: period, root: root, proc: proc, blockDevice: c.deviceName, log: logger}
	})
	return c.fs.tracker
}

// attachFs gives the snapshot and its runtime containers the last
// measurement, and starts the next one if it is due.
func (c *Collector) attachFs(snap *Snapshot) {
	t := c.fsTracker()
	if t == nil {
		return
	}
	snap.Fs = t.current()
	if snap.Fs == nil {
		return
	}
	for i := range snap.Containers {
		if id := snap.Containers[i].Ref.ContainerID; id != "" {
			snap.Containers[i].Fs = snap.Fs.Containers[id]
		}
	}
}

// fsTracker measures filesystem usage in the background, at most once per
// period and only while someone asks for it: a scrape reads the last
// measurement and, if it is older than the period, starts the next one
// without waiting for it. Walking log directories costs a stat per file,
// which a scrape every few seconds must not pay; the kubelet caches its
// volume walks the same way.
type fsTracker struct {
	src         FsSource
	period      time.Duration
	root        string // the host's /
	proc        string // the host's /proc, for mountinfo
	blockDevice func(major, minor uint64) string
	log         *slog.Logger

	mu      sync.Mutex
	running bool
	started time.Time // start of the last measurement
	cur     *FsUsage  // the last finished measurement; nil before the first
	lastErr string    // last error logged, to log each distinct one once
}

// current returns the last measurement (nil before the first one ends) and
// starts the next one in the background when it is due.
func (t *fsTracker) current() *FsUsage {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.running && (t.started.IsZero() || time.Since(t.started) >= t.period) {
		t.running, t.started = true, time.Now()
		go func() {
			u := t.measure(context.Background())
			t.mu.Lock()
			t.cur, t.running = u, false
			t.mu.Unlock()
		}()
	}
	return t.cur
}

// fsInfo is a statfs of a filesystem and its device name.
type fsInfo struct {
	device                                  string
	available, capacity, inodesFree, inodes uint64
}

// measure asks the runtime for the writable layers and walks the log
// directories. A runtime that fails gives an empty measurement (no stale
// figures), logged once per distinct error.
func (t *fsTracker) measure(ctx context.Context) *FsUsage {
	u := &FsUsage{Containers: map[string]*Fs{}, PodLogs: map[string]*FsStats{}}
	layers, err := t.src.WritableLayers(ctx)
	if err != nil {
		if key := err.Error(); key != t.loggedErr(key) {
			t.log.Warn("container filesystem usage unavailable: the runtime did not list its containers' writable layers", "err", err)
		}
		return u
	}
	t.loggedErr("")
	infos := map[string]*fsInfo{} // by host path statted, this measurement
	info := func(path string) *fsInfo {
		if i, ok := infos[path]; ok {
			return i
		}
		i, err := t.statfs(filepath.Join(t.root, path))
		if err != nil {
			t.log.Debug("statfs", "path", path, "err", err)
			i = nil
		}
		infos[path] = i
		return i
	}
	rootDir := kubeletRootDir
	if _, err := os.Stat(filepath.Join(t.root, rootDir)); err != nil {
		rootDir = PodLogsDir
		if _, err := os.Stat(filepath.Join(t.root, rootDir)); err != nil {
			rootDir = "/"
		}
	}
	rootInfo := info(rootDir)
	now := time.Now()
	if rootInfo != nil {
		u.RootFs = rootInfo.stats(now, nil, nil)
	}
	for _, l := range layers {
		cf := &Fs{}
		at := l.Time
		if at.IsZero() {
			at = now
		}
		var li *fsInfo
		if l.Mountpoint != "" {
			li = info(l.Mountpoint)
		}
		cf.Rootfs = li.stats(at, l.UsedBytes, l.InodesUsed)
		if l.Pod != "" && l.Namespace != "" && l.PodUID != "" {
			podDir := filepath.Join(t.root, PodLogsDir, l.Namespace+"_"+l.Pod+"_"+l.PodUID)
			if l.Container != "" {
				if b, n, err := DirUsage(filepath.Join(podDir, l.Container)); err == nil {
					cf.Logs = rootInfo.stats(time.Now(), &b, &n)
				} else if !errors.Is(err, fs.ErrNotExist) {
					t.log.Debug("measuring a container's logs", "dir", filepath.Join(podDir, l.Container), "err", err)
				}
			}
			if _, ok := u.PodLogs[l.PodUID]; !ok {
				if b, n, err := podLogFiles(podDir); err == nil {
					u.PodLogs[l.PodUID] = rootInfo.stats(time.Now(), &b, &n)
				}
			}
		}
		u.Containers[l.ID] = cf
	}
	return u
}

// loggedErr records key as the last error logged and returns the one
// before.
func (t *fsTracker) loggedErr(key string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	prev := t.lastErr
	t.lastErr = key
	return prev
}

// stats returns FsStats with i's filesystem figures (none if i is nil) and
// the given usage.
func (i *fsInfo) stats(at time.Time, used, inodesUsed *uint64) *FsStats {
	s := &FsStats{Time: at, UsedBytes: used, InodesUsed: inodesUsed}
	if i != nil {
		s.Device = i.device
		s.AvailableBytes, s.CapacityBytes = &i.available, &i.capacity
		s.InodesFree, s.Inodes = &i.inodesFree, &i.inodes
	}
	return s
}

// statfs reads a filesystem's size and names its device.
func (t *fsTracker) statfs(path string) (*fsInfo, error) {
	var s unix.Statfs_t
	if err := unix.Statfs(path, &s); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	// As cAdvisor's getVfsStats.
	return &fsInfo{
		device:     t.deviceOf(uint64(unix.Major(st.Dev)), uint64(unix.Minor(st.Dev))),
		capacity:   uint64(s.Frsize) * s.Blocks,
		available:  uint64(s.Frsize) * s.Bavail,
		inodes:     s.Files,
		inodesFree: s.Ffree,
	}, nil
}

// deviceOf names a filesystem's device as cAdvisor does: the block device
// ("/dev/vda1"), else the mount's source from the host's mountinfo (an
// overlay or tmpfs has no block device), else "major:minor".
func (t *fsTracker) deviceOf(major, minor uint64) string {
	if major != 0 && t.blockDevice != nil {
		return t.blockDevice(major, minor)
	}
	id := strconv.FormatUint(major, 10) + ":" + strconv.FormatUint(minor, 10)
	f, err := os.Open(filepath.Join(t.proc, "1", "mountinfo"))
	if err != nil {
		return id
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[2] != id {
			continue
		}
		for j := 3; j+2 < len(fields); j++ {
			if fields[j] == "-" {
				return fields[j+2]
			}
		}
	}
	return id
}

// statBlockSize is the unit of st_blocks.
const statBlockSize = 512

// DirUsage measures a directory tree as the kubelet's du does
// (pkg/volume/util/fs.DiskUsage): the blocks allocated to every file and
// directory, the directory itself included, times 512 (what
// `du -s --block-size=1` prints, not the files' apparent size), and the
// inodes, counting a hard-linked inode once and not crossing into other
// filesystems. Files that vanish during the walk are skipped.
func DirUsage(dir string) (bytes, inodes uint64, err error) {
	var root unix.Stat_t
	if err := unix.Lstat(dir, &root); err != nil {
		return 0, 0, fmt.Errorf("lstat %s: %w", dir, err)
	}
	seen := map[uint64]struct{}{}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed after its directory was read
		}
		if err != nil {
			return fmt.Errorf("walk %s: %w", path, err)
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("lstat %s: %w", path, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("lstat %s: no stat_t", path)
		}
		if st.Dev != root.Dev {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if st.Nlink > 1 && !d.IsDir() {
			if _, dup := seen[st.Ino]; dup {
				return nil
			}
			seen[st.Ino] = struct{}{}
		}
		bytes += uint64(st.Blocks) * statBlockSize
		inodes++
		return nil
	})
	return bytes, inodes, err
}

// podLogFiles measures the plain files directly in a pod's log directory
// (a runtime's pod-level logs), as the kubelet's podLogMetrics does.
func podLogFiles(dir string) (bytes, inodes uint64, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("read %s: %w", dir, err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, n, err := DirUsage(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // gone since the listing
		}
		bytes, inodes = bytes+b, inodes+n
	}
	return bytes, inodes, nil
}

// emitFs reports a container's filesystem usage as cAdvisor does for the
// runtimes it measures (Docker's writable layer plus its log file): one
// series per filesystem, the usage summed over the layer and the logs when
// they share it, the limit and inodes those of the whole filesystem.
func (c *Collector) emitFs(ch *collector.Sink, at time.Time, cf *Fs, with func(string) []string) {
	if cf == nil {
		return
	}
	type dev struct {
		name    string
		used    uint64
		hasUsed bool
		stats   *FsStats
	}
	var devs []*dev
	for _, s := range []*FsStats{cf.Rootfs, cf.Logs} {
		if s == nil || s.Device == "" {
			continue // no filesystem to name: no series
		}
		var d *dev
		for _, e := range devs {
			if e.name == s.Device {
				d = e
			}
		}
		if d == nil {
			d = &dev{name: s.Device, stats: s}
			devs = append(devs, d)
		}
		if s.UsedBytes != nil {
			d.used += *s.UsedBytes
			d.hasUsed = true
		}
	}
	for _, d := range devs {
		l := with(d.name)
		if d.hasUsed {
			ch.Send(c.fs.usage.MetricAt(at, float64(d.used), l...))
		}
		if s := d.stats; s.CapacityBytes != nil {
			ch.Send(c.fs.limit.MetricAt(at, float64(*s.CapacityBytes), l...))
			ch.Send(c.fs.inodesFree.MetricAt(at, float64(*s.InodesFree), l...))
			ch.Send(c.fs.inodes.MetricAt(at, float64(*s.Inodes), l...))
		}
	}
}
