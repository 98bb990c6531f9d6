package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs/sysfs"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("cpufreq", true, newCpufreq) }

// cpufreqCollector reports each CPU's frequency limits and current
// frequency from /sys/devices/system/cpu/cpu<N>/cpufreq.
type cpufreqCollector struct {
	cfg    Config
	logger *slog.Logger

	cur, min, max, scalingCur, scalingMin, scalingMax collector.TypedDesc
}

func newCpufreq(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	d := func(name, help string) collector.TypedDesc {
		return collector.NewTypedDesc("cpu", name, help, prometheus.GaugeValue, "cpu")
	}
	return &cpufreqCollector{
		cfg:        cfg,
		logger:     logger,
		cur:        d("frequency_hertz", "Current cpu thread frequency in hertz."),
		min:        d("frequency_min_hertz", "Minimum cpu thread frequency in hertz."),
		max:        d("frequency_max_hertz", "Maximum cpu thread frequency in hertz."),
		scalingCur: d("scaling_frequency_hertz", "Current scaled CPU thread frequency in hertz."),
		scalingMin: d("scaling_frequency_min_hertz", "Minimum scaled CPU thread frequency in hertz."),
		scalingMax: d("scaling_frequency_max_hertz", "Maximum scaled CPU thread frequency in hertz."),
	}, nil
}

// Update reads every online CPU's cpufreq directory. A machine without
// cpufreq (most VMs) reports nothing and succeeds: node_exporter 1.5 does
// the same (its procfs returned an empty list there).
func (c *cpufreqCollector) Update(_ context.Context, ch *collector.Sink) error {
	sfs, err := sysfs.NewFS(c.cfg.SysRoot)
	if err != nil {
		return fmt.Errorf("open sysfs: %w", err)
	}
	cpus, err := sfs.SystemCpufreq()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			c.logger.Debug("no cpufreq files", "err", err)
			return nil
		}
		return fmt.Errorf("read cpufreq in %s: %w", c.cfg.sysPath("devices", "system", "cpu"), err)
	}
	// sysfs reports kHz.
	send := func(d collector.TypedDesc, khz *uint64, cpu string) {
		if khz != nil {
			ch.Send(d.Metric(float64(*khz)*1000.0, cpu))
		}
	}
	for _, s := range cpus {
		if s.Name == "" {
			// A CPU without a cpufreq directory leaves an empty slot.
			continue
		}
		send(c.cur, s.CpuinfoCurrentFrequency, s.Name)
		send(c.min, s.CpuinfoMinimumFrequency, s.Name)
		send(c.max, s.CpuinfoMaximumFrequency, s.Name)
		send(c.scalingCur, s.ScalingCurrentFrequency, s.Name)
		send(c.scalingMin, s.ScalingMinimumFrequency, s.Name)
		send(c.scalingMax, s.ScalingMaximumFrequency, s.Name)
	}
	return nil
}
