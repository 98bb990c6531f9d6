package host

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs/blockdevice"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// DefaultDiskstatsDeviceExclude is node_exporter's: partitions, RAM and loop
// devices.
const DefaultDiskstatsDeviceExclude = `^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`

// DiskstatsConfig selects the block devices reported.
type DiskstatsConfig struct {
	DeviceInclude string // regexp; when set only matching devices are kept
	DeviceExclude string // regexp of devices to drop
}

func init() { register("diskstats", true, newDiskstats) }

const (
	diskSectorSize     = 512.0 // diskstats sectors are always 512-byte units
	diskSecondsPerTick = 1e-3  // diskstats times are milliseconds
	maxUdevDataSize    = 64 << 10
)

// udev device properties used by node_exporter 1.5.
const (
	udevDMLVLayer              = "DM_LV_LAYER"
	udevDMLVName               = "DM_LV_NAME"
	udevDMName                 = "DM_NAME"
	udevDMUUID                 = "DM_UUID"
	udevDMVGName               = "DM_VG_NAME"
	udevIDATA                  = "ID_ATA"
	udevIDATARotationRateRPM   = "ID_ATA_ROTATION_RATE_RPM"
	udevIDATAWriteCache        = "ID_ATA_WRITE_CACHE"
	udevIDATAWriteCacheEnabled = "ID_ATA_WRITE_CACHE_ENABLED"
	udevIDFSType               = "ID_FS_TYPE"
	udevIDFSUsage              = "ID_FS_USAGE"
	udevIDFSUUID               = "ID_FS_UUID"
	udevIDFSVersion            = "ID_FS_VERSION"
	udevIDModel                = "ID_MODEL"
	udevIDPath                 = "ID_PATH"
	udevIDRevision             = "ID_REVISION"
	udevIDSerialShort          = "ID_SERIAL_SHORT"
	udevIDWWN                  = "ID_WWN"
)

type ataDesc struct {
	key  string
	desc collector.TypedDesc
}

type diskstatsCollector struct {
	cfg    Config
	logger *slog.Logger
	filter *collector.Filter

	info, fsInfo, dmInfo collector.TypedDesc
	stats                [17]collector.TypedDesc // in /proc/diskstats column order
	ata                  []ataDesc

	mu   sync.Mutex
	udev map[[2]uint32]udevEntry // parsed udev data by major:minor
}

// udevEntry is a device's parsed udev database file and the file version it
// came from, so that it is re-read only when udev rewrites it.
type udevEntry struct {
	mtime time.Time
	size  int64
	props map[string]string
	seen  bool
}

func newDiskstats(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	f, err := collector.NewFilter(cfg.Diskstats.DeviceInclude, cfg.Diskstats.DeviceExclude)
	if err != nil {
		return nil, fmt.Errorf("diskstats device filter: %w", err)
	}
	g, ctr := prometheus.GaugeValue, prometheus.CounterValue
	d := func(name, help string, t prometheus.ValueType) collector.TypedDesc {
		return collector.NewTypedDesc("disk", name, help, t, "device")
	}
	c := &diskstatsCollector{
		cfg:    cfg,
		logger: logger,
		filter: f,
		info: collector.NewTypedDesc("disk", "info", "Info of /sys/block/<block_device>.", g,
			"device", "major", "minor", "path", "wwn", "model", "serial", "revision"),
		fsInfo: collector.NewTypedDesc("disk", "filesystem_info", "Info about disk filesystem.", g,
			"device", "type", "usage", "uuid", "version"),
		dmInfo: collector.NewTypedDesc("disk", "device_mapper_info", "Info about disk device mapper.", g,
			"device", "name", "uuid", "vg_name", "lv_name", "lv_layer"),
		stats: [17]collector.TypedDesc{
			d("reads_completed_total", "The total number of reads completed successfully.", ctr),
			d("reads_merged_total", "The total number of reads merged.", ctr),
			d("read_bytes_total", "The total number of bytes read successfully.", ctr),
			d("read_time_seconds_total", "The total number of seconds spent by all reads.", ctr),
			d("writes_completed_total", "The total number of writes completed successfully.", ctr),
			d("writes_merged_total", "The number of writes merged.", ctr),
			d("written_bytes_total", "The total number of bytes written successfully.", ctr),
			d("write_time_seconds_total", "This is the total number of seconds spent by all writes.", ctr),
			d("io_now", "The number of I/Os currently in progress.", g),
			d("io_time_seconds_total", "Total seconds spent doing I/Os.", ctr),
			d("io_time_weighted_seconds_total", "The weighted # of seconds spent doing I/Os.", ctr),
			d("discards_completed_total", "The total number of discards completed successfully.", ctr),
			d("discards_merged_total", "The total number of discards merged.", ctr),
			d("discarded_sectors_total", "The total number of sectors discarded successfully.", ctr),
			d("discard_time_seconds_total", "This is the total number of seconds spent by all discards.", ctr),
			d("flush_requests_total", "The total number of flush requests completed successfully", ctr),
			d("flush_requests_time_seconds_total", "This is the total number of seconds spent by all flush requests.", ctr),
		},
		ata: []ataDesc{
			{udevIDATAWriteCache, d("ata_write_cache", "ATA disk has a write cache.", g)},
			{udevIDATAWriteCacheEnabled, d("ata_write_cache_enabled", "ATA disk has its write cache enabled.", g)},
			{udevIDATARotationRateRPM, d("ata_rotation_rate_rpm", "ATA disk rotation rate in RPMs (0 for SSDs).", g)},
		},
		udev: make(map[[2]uint32]udevEntry),
	}
	return c, nil
}

func (c *diskstatsCollector) Update(_ context.Context, ch *collector.Sink) error {
	// Only /proc/diskstats is read; blockdevice.NewFS insists on a sysfs
	// root too, which this collector does not need, so give it the proc
	// root for both.
	bfs, err := blockdevice.NewFS(c.cfg.ProcRoot, c.cfg.ProcRoot)
	if err != nil {
		return fmt.Errorf("open procfs: %w", err)
	}
	disks, err := bfs.ProcDiskstats()
	if err != nil {
		return fmt.Errorf("read diskstats: %w", err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.udev {
		e.seen = false
		c.udev[k] = e
	}
	for i := range disks {
		s := &disks[i]
		dev := s.DeviceName
		if c.filter.Ignored(dev) {
			continue
		}
		props := c.udevProps(s.MajorNumber, s.MinorNumber)
		// node_exporter 1.5 takes the serial from ID_SERIAL_SHORT only
		// (SCSI_IDENT_SERIAL, when present, is ignored).
		serial := props[udevIDSerialShort]
		ch.Send(c.info.Metric(1, dev,
			strconv.FormatUint(uint64(s.MajorNumber), 10), strconv.FormatUint(uint64(s.MinorNumber), 10),
			props[udevIDPath], props[udevIDWWN], props[udevIDModel], serial, props[udevIDRevision]))

		vals := [17]float64{
			float64(s.ReadIOs),
			float64(s.ReadMerges),
			float64(s.ReadSectors) * diskSectorSize,
			float64(s.ReadTicks) * diskSecondsPerTick,
			float64(s.WriteIOs),
			float64(s.WriteMerges),
			float64(s.WriteSectors) * diskSectorSize,
			float64(s.WriteTicks) * diskSecondsPerTick,
			float64(s.IOsInProgress),
			float64(s.IOsTotalTicks) * diskSecondsPerTick,
			float64(s.WeightedIOTicks) * diskSecondsPerTick,
			float64(s.DiscardIOs),
			float64(s.DiscardMerges),
			float64(s.DiscardSectors),
			float64(s.DiscardTicks) * diskSecondsPerTick,
			float64(s.FlushRequestsCompleted),
			float64(s.TimeSpentFlushing) * diskSecondsPerTick,
		}
		// Older kernels have fewer columns (no discard, no flush fields):
		// report only those present, less major, minor and name.
		n := min(max(s.IoStatsCount-3, 0), len(vals))
		for j := 0; j < n; j++ {
			ch.Send(c.stats[j].Metric(vals[j], dev))
		}

		if t := props[udevIDFSType]; t != "" {
			ch.Send(c.fsInfo.Metric(1, dev, t, props[udevIDFSUsage], props[udevIDFSUUID], props[udevIDFSVersion]))
		}
		if name := props[udevDMName]; name != "" {
			ch.Send(c.dmInfo.Metric(1, dev, name, props[udevDMUUID], props[udevDMVGName], props[udevDMLVName], props[udevDMLVLayer]))
		}
		if props[udevIDATA] != "" {
			for _, a := range c.ata {
				str, ok := props[a.key]
				if !ok {
					continue
				}
				v, err := strconv.ParseFloat(str, 64)
				if err != nil {
					c.logger.Debug("bad ATA udev value", "device", dev, "property", a.key, "err", err)
					continue
				}
				ch.Send(a.desc.Metric(v, dev))
			}
		}
	}
	for k, e := range c.udev {
		if !e.seen {
			delete(c.udev, k)
		}
	}
	return nil
}

// udevProps returns the device properties from the udev database file
// <rootfs>/run/udev/data/b<major>:<minor>, or nil when there is none (no
// udev in a container, as on many hosts): the info labels are then empty.
// The parsed file is cached until its modification time or size changes.
// c.mu is held.
func (c *diskstatsCollector) udevProps(major, minor uint32) map[string]string {
	key := [2]uint32{major, minor}
	path := c.cfg.rootfsPath("run", "udev", "data", "b"+strconv.FormatUint(uint64(major), 10)+":"+strconv.FormatUint(uint64(minor), 10))
	fi, err := os.Stat(path)
	if err != nil {
		delete(c.udev, key)
		return nil
	}
	if e, ok := c.udev[key]; ok && e.mtime.Equal(fi.ModTime()) && e.size == fi.Size() {
		e.seen = true
		c.udev[key] = e
		return e.props
	}
	f, err := os.Open(path)
	if err != nil {
		c.logger.Debug("open udev data", "path", path, "err", err)
		return nil
	}
	props, err := parseUdevData(f)
	f.Close()
	if err != nil {
		c.logger.Debug("parse udev data", "path", path, "err", err)
		return nil
	}
	c.udev[key] = udevEntry{mtime: fi.ModTime(), size: fi.Size(), props: props, seen: true}
	return props
}

// parseUdevData extracts the device properties ("E:KEY=VALUE" lines) from
// a udev database file; other record types (S: symlinks, G: tags, ...) and
// malformed lines are skipped, as udevadm does.
func parseUdevData(r io.Reader) (map[string]string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxUdevDataSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxUdevDataSize {
		return nil, fmt.Errorf("udev data larger than %d bytes", maxUdevDataSize)
	}
	props := make(map[string]string)
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		rest, ok := bytes.CutPrefix(line, []byte("E:"))
		if !ok {
			continue
		}
		if k, v, ok := bytes.Cut(rest, []byte("=")); ok {
			props[string(k)] = string(v)
		}
	}
	return props, nil
}
