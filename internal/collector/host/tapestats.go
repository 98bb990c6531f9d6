package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs/sysfs"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// DefaultTapestatsIgnoredDevices is node_exporter's default: ignore nothing.
const DefaultTapestatsIgnoredDevices = `^$`

// TapestatsConfig selects the SCSI tape drives reported.
type TapestatsConfig struct {
	IgnoredDevices string // regexp of st<N> devices to leave out
}

func init() { register("tapestats", true, newTapestats) }

// tapestatsCollector reports SCSI tape drive statistics from
// /sys/class/scsi_tape/st<N>/stats (kernel 4.19+).
type tapestatsCollector struct {
	cfg     Config
	logger  *slog.Logger
	ignored *regexp.Regexp

	ioNow, ioTime, others, readBytes, reads, readTime, residual, writtenBytes, writes, writeTime collector.TypedDesc
}

func newTapestats(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	re, err := regexp.Compile(cfg.Tapestats.IgnoredDevices)
	if err != nil {
		return nil, fmt.Errorf("tapestats ignored devices: %w", err)
	}
	d := func(name, help string, t prometheus.ValueType) collector.TypedDesc {
		return collector.NewTypedDesc("tape", name, help, t, "device")
	}
	return &tapestatsCollector{
		cfg: cfg, logger: logger, ignored: re,
		ioNow:        d("io_now", "The number of I/Os currently outstanding to this device.", prometheus.GaugeValue),
		ioTime:       d("io_time_seconds_total", "The amount of time spent waiting for all I/O to complete (including read and write). This includes tape movement commands such as seeking between file or set marks and implicit tape movement such as when rewind on close tape devices are used.", prometheus.CounterValue),
		others:       d("io_others_total", "The number of I/Os issued to the tape drive other than read or write commands. The time taken to complete these commands uses the following calculation io_time_seconds_total-read_time_seconds_total-write_time_seconds_total", prometheus.CounterValue),
		readBytes:    d("read_bytes_total", "The number of bytes read from the tape drive.", prometheus.CounterValue),
		reads:        d("reads_completed_total", "The number of read requests issued to the tape drive.", prometheus.CounterValue),
		readTime:     d("read_time_seconds_total", "The amount of time spent waiting for read requests to complete.", prometheus.CounterValue),
		residual:     d("residual_total", "The number of times during a read or write we found the residual amount to be non-zero. This should mean that a program is issuing a read larger thean the block size on tape. For write not all data made it to tape.", prometheus.CounterValue),
		writtenBytes: d("written_bytes_total", "The number of bytes written to the tape drive.", prometheus.CounterValue),
		writes:       d("writes_completed_total", "The number of write requests issued to the tape drive.", prometheus.CounterValue),
		writeTime:    d("write_time_seconds_total", "The amount of time spent waiting for write requests to complete.", prometheus.CounterValue),
	}, nil
}

func (c *tapestatsCollector) Update(_ context.Context, ch *collector.Sink) error {
	sfs, err := sysfs.NewFS(c.cfg.SysRoot)
	if err != nil {
		return fmt.Errorf("open sysfs: %w", err)
	}
	dir := c.cfg.sysPath("class", "scsi_tape")
	tapes, err := sfs.SCSITapeClass()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// No st driver (or a drive unplugged mid-read): node_exporter
			// reports no data.
			return fmt.Errorf("read %s: %w: %w", dir, collector.ErrNoData, err)
		}
		return fmt.Errorf("read %s: %w", dir, err)
	}
	for _, tape := range tapes {
		if c.ignored.MatchString(tape.Name) {
			continue
		}
		n, t := tape.Name, &tape.Counters
		ch.Send(c.ioNow.Metric(float64(t.InFlight), n))
		ch.Send(c.ioTime.Metric(float64(t.IoNs)*1e-9, n))
		ch.Send(c.others.Metric(float64(t.OtherCnt), n))
		ch.Send(c.readBytes.Metric(float64(t.ReadByteCnt), n))
		ch.Send(c.reads.Metric(float64(t.ReadCnt), n))
		ch.Send(c.readTime.Metric(float64(t.ReadNs)*1e-9, n))
		ch.Send(c.residual.Metric(float64(t.ResidCnt), n))
		ch.Send(c.writtenBytes.Metric(float64(t.WriteByteCnt), n))
		ch.Send(c.writes.Metric(float64(t.WriteCnt), n))
		ch.Send(c.writeTime.Metric(float64(t.WriteNs)*1e-9, n))
	}
	return nil
}
