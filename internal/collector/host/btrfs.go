package host

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs/btrfs"
	"golang.org/x/sys/unix"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("btrfs", true, newBtrfs) }

// btrfsCollector reports Btrfs file systems from /sys/fs/btrfs/<uuid>/ and,
// for mounted ones, per-device sizes and error counters from the
// BTRFS_IOC_DEV_INFO and BTRFS_IOC_GET_DEV_STATS ioctls, as node_exporter
// does. A host without Btrfs reports nothing, successfully.
type btrfsCollector struct {
	cfg    Config
	logger *slog.Logger

	info, globalRsv, reserved, used, size, ratio,
	devSize, devSizeIoctl, devUnused, devErrors collector.TypedDesc
}

func newBtrfs(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	d := func(name, help string, labels ...string) collector.TypedDesc {
		return collector.NewTypedDesc("btrfs", name, help, prometheus.GaugeValue, append([]string{"uuid"}, labels...)...)
	}
	return &btrfsCollector{
		cfg:       cfg,
		logger:    logger,
		info:      d("info", "Filesystem information", "label"),
		globalRsv: d("global_rsv_size_bytes", "Size of global reserve."),
		reserved:  d("reserved_bytes", "Amount of space reserved for a data type", "block_group_type"),
		used:      d("used_bytes", "Amount of used space by a layout/data type", "block_group_type", "mode"),
		size:      d("size_bytes", "Amount of space allocated for a layout/data type", "block_group_type", "mode"),
		ratio:     d("allocation_ratio", "Data allocation ratio for a layout/data type", "block_group_type", "mode"),
		// node_exporter reports device_size_bytes with labels uuid and
		// device from sysfs when no ioctl answer is available, and adds
		// btrfs_dev_uuid when one is: two label sets in one family, as there.
		devSize:      d("device_size_bytes", "Size of a device that is part of the filesystem.", "device"),
		devSizeIoctl: d("device_size_bytes", "Size of a device that is part of the filesystem.", "device", "btrfs_dev_uuid"),
		devUnused:    d("device_unused_bytes", "Unused bytes unused on a device that is part of the filesystem.", "device", "btrfs_dev_uuid"),
		devErrors: collector.NewTypedDesc("btrfs", "device_errors_total", "Errors reported for the device", prometheus.CounterValue,
			"uuid", "type", "device", "btrfs_dev_uuid"),
	}, nil
}

func (c *btrfsCollector) Update(ctx context.Context, ch *collector.Sink) error {
	bfs, err := btrfs.NewFS(c.cfg.SysRoot)
	if err != nil {
		return fmt.Errorf("open sysfs: %w", err)
	}
	stats, err := bfs.Stats()
	if err != nil {
		return fmt.Errorf("read %s: %w", c.cfg.sysPath("fs", "btrfs"), err)
	}
	if len(stats) == 0 {
		return nil
	}
	// The ioctls are best effort, as in node_exporter: without them the
	// sysfs device sizes are reported instead.
	devices, err := c.ioctlStats(ctx)
	if err != nil {
		c.logger.Debug("btrfs device stats unavailable", "err", err)
	}
	for _, s := range stats {
		c.send(ch, s, devices[strings.ReplaceAll(s.UUID, "-", "")])
	}
	return nil
}

func (c *btrfsCollector) send(ch *collector.Sink, s *btrfs.Stats, devs []btrfsDevice) {
	ch.Send(c.info.Metric(1, s.UUID, s.Label))
	ch.Send(c.globalRsv.Metric(float64(s.Allocation.GlobalRsvSize), s.UUID))
	for _, a := range []struct {
		name string
		st   *btrfs.AllocationStats
	}{{"data", s.Allocation.Data}, {"metadata", s.Allocation.Metadata}, {"system", s.Allocation.System}} {
		if a.st == nil {
			continue
		}
		ch.Send(c.reserved.Metric(float64(a.st.ReservedBytes), s.UUID, a.name))
		for mode, l := range a.st.Layouts {
			ratio := l.Ratio
			if mode == "raid1c3" || mode == "raid1c4" {
				// node_exporter 1.5's procfs did not know these profiles
				// and reported ratio 0 for them.
				ratio = 0
			}
			ch.Send(c.used.Metric(float64(l.UsedBytes), s.UUID, a.name, mode))
			ch.Send(c.size.Metric(float64(l.TotalBytes), s.UUID, a.name, mode))
			ch.Send(c.ratio.Metric(ratio, s.UUID, a.name, mode))
		}
	}
	if devs == nil {
		for name, d := range s.Devices {
			ch.Send(c.devSize.Metric(float64(d.Size), s.UUID, name))
		}
		return
	}
	for _, d := range devs {
		dev := filepath.Base(d.path)
		ch.Send(c.devSizeIoctl.Metric(float64(d.totalBytes), s.UUID, dev, d.uuid))
		ch.Send(c.devUnused.Metric(float64(d.totalBytes-d.bytesUsed), s.UUID, dev, d.uuid))
		for i, t := range []string{"write", "read", "flush", "corruption", "generation"} {
			ch.Send(c.devErrors.Metric(float64(d.errs[i]), s.UUID, t, dev, d.uuid))
		}
	}
}

// btrfsDevice is one device of a mounted Btrfs file system, from the ioctls.
type btrfsDevice struct {
	path, uuid            string
	bytesUsed, totalBytes uint64
	errs                  [5]uint64 // write, read, flush, corruption, generation
}

// ioctlStats queries each mounted Btrfs file system once, keyed by its FSID
// in hex without dashes.
func (c *btrfsCollector) ioctlStats(ctx context.Context) (map[string][]btrfsDevice, error) {
	f, err := os.Open(c.cfg.procPath("1", "mounts"))
	if err != nil {
		f, err = os.Open(c.cfg.procPath("mounts"))
		if err != nil {
			return nil, fmt.Errorf("read mounts: %w", err)
		}
	}
	mounts, err := parseMounts(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("parse mounts: %w", err)
	}
	out := map[string][]btrfsDevice{}
	seen := map[string]bool{}
	for _, m := range mounts {
		if m.fsType != "btrfs" || seen[m.device] {
			continue
		}
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		fsid, devs, err := btrfsQuery(c.cfg.rootfsPath(m.mountPoint))
		if err != nil {
			c.logger.Debug("btrfs ioctl failed", "mount_point", m.mountPoint, "err", err)
			continue
		}
		if _, dup := out[fsid]; dup {
			continue
		}
		seen[m.device] = true
		out[fsid] = devs
	}
	return out, nil
}

// Btrfs ioctl argument layouts (include/uapi/linux/btrfs.h).
type btrfsFSInfoArgs struct {
	MaxID, NumDevices uint64
	FSID              [16]byte
	_                 [1024 - 32]byte
}

type btrfsDevInfoArgs struct {
	DevID                 uint64
	UUID                  [16]byte
	BytesUsed, TotalBytes uint64
	_                     [379]uint64
	Path                  [1024]byte
}

type btrfsDevStatsArgs struct {
	DevID, NrItems, Flags uint64
	Values                [5]uint64
	_                     [128 - 2 - 5]uint64
}

// ioctl request numbers: _IOR/_IOWR(0x94, nr, size).
const (
	btrfsIocFSInfo      = 2<<30 | unsafe.Sizeof(btrfsFSInfoArgs{})<<16 | 0x94<<8 | 31
	btrfsIocDevInfo     = 3<<30 | unsafe.Sizeof(btrfsDevInfoArgs{})<<16 | 0x94<<8 | 30
	btrfsIocGetDevStats = 3<<30 | unsafe.Sizeof(btrfsDevStatsArgs{})<<16 | 0x94<<8 | 52
)

func btrfsIoctl(fd int, req uintptr, arg unsafe.Pointer) error {
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}

// btrfsQuery asks the file system mounted at dir for its FSID and devices.
func btrfsQuery(dir string) (string, []btrfsDevice, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(fd)
	var info btrfsFSInfoArgs
	if err := btrfsIoctl(fd, btrfsIocFSInfo, unsafe.Pointer(&info)); err != nil {
		return "", nil, fmt.Errorf("BTRFS_IOC_FS_INFO %s: %w", dir, err)
	}
	var devs []btrfsDevice
	for id := uint64(0); id <= info.MaxID && uint64(len(devs)) < info.NumDevices; id++ {
		di := btrfsDevInfoArgs{DevID: id}
		if err := btrfsIoctl(fd, btrfsIocDevInfo, unsafe.Pointer(&di)); err != nil {
			if errors.Is(err, unix.ENODEV) { // a gap in the device ids
				continue
			}
			return "", nil, fmt.Errorf("BTRFS_IOC_DEV_INFO %s devid %d: %w", dir, id, err)
		}
		ds := btrfsDevStatsArgs{DevID: id, NrItems: 5}
		if err := btrfsIoctl(fd, btrfsIocGetDevStats, unsafe.Pointer(&ds)); err != nil {
			return "", nil, fmt.Errorf("BTRFS_IOC_GET_DEV_STATS %s devid %d: %w", dir, id, err)
		}
		devs = append(devs, btrfsDevice{
			path:       unix.ByteSliceToString(di.Path[:]),
			uuid:       btrfsUUIDString(di.UUID),
			bytesUsed:  di.BytesUsed,
			totalBytes: di.TotalBytes,
			errs:       ds.Values,
		})
	}
	sort.Slice(devs, func(i, j int) bool { return devs[i].path < devs[j].path })
	return hex.EncodeToString(info.FSID[:]), devs, nil
}

// btrfsUUIDString formats a device UUID as node_exporter's btrfs library
// does: dashed hex, "<zero>" for the all-zero UUID.
func btrfsUUIDString(u [16]byte) string {
	if u == [16]byte{} {
		return "<zero>"
	}
	h := hex.EncodeToString(u[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
