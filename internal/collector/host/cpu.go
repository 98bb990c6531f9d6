package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("cpu", true, newCPU) }

// jumpBackSeconds is how far a CPU's idle counter may go backwards before we
// take it as a reset (CPU hot-plug, a hypervisor quirk) rather than jitter;
// iowait in particular is known to step back by small amounts.
const jumpBackSeconds = 3.0

type cpuCollector struct {
	cfg      Config
	logger   *slog.Logger
	cpu      collector.TypedDesc
	guest    collector.TypedDesc
	coreThr  collector.TypedDesc
	pkgThr   collector.TypedDesc
	mu       sync.Mutex
	previous map[int64]procfs.CPUStat // keeps the exported counters monotonic
}

func newCPU(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	return &cpuCollector{
		cfg:      cfg,
		logger:   logger,
		cpu:      collector.NewTypedDesc("cpu", "seconds_total", "Seconds the CPUs spent in each mode.", prometheus.CounterValue, "cpu", "mode"),
		guest:    collector.NewTypedDesc("cpu", "guest_seconds_total", "Seconds the CPUs spent in guests (VMs) for each mode.", prometheus.CounterValue, "cpu", "mode"),
		coreThr:  collector.NewTypedDesc("cpu", "core_throttles_total", "Number of times this CPU core has been throttled.", prometheus.CounterValue, "package", "core"),
		pkgThr:   collector.NewTypedDesc("cpu", "package_throttles_total", "Number of times this CPU package has been throttled.", prometheus.CounterValue, "package"),
		previous: make(map[int64]procfs.CPUStat),
	}, nil
}

func (c *cpuCollector) Update(ctx context.Context, ch *collector.Sink) error {
	s, err := procStat(ctx, c.cfg)
	if err != nil {
		return err
	}
	stats := c.monotonic(s.CPU)
	ids := make([]int64, 0, len(stats))
	for id := range stats {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		st := stats[id]
		cpu := strconv.FormatInt(id, 10)
		ch.Send(c.cpu.Metric(st.User, cpu, "user"))
		ch.Send(c.cpu.Metric(st.Nice, cpu, "nice"))
		ch.Send(c.cpu.Metric(st.System, cpu, "system"))
		ch.Send(c.cpu.Metric(st.Idle, cpu, "idle"))
		ch.Send(c.cpu.Metric(st.Iowait, cpu, "iowait"))
		ch.Send(c.cpu.Metric(st.IRQ, cpu, "irq"))
		ch.Send(c.cpu.Metric(st.SoftIRQ, cpu, "softirq"))
		ch.Send(c.cpu.Metric(st.Steal, cpu, "steal"))
		// Guest time is also counted in user and nice; node_exporter
		// exports it as a family of its own, and so do we.
		ch.Send(c.guest.Metric(st.Guest, cpu, "user"))
		ch.Send(c.guest.Metric(st.GuestNice, cpu, "nice"))
	}
	return c.updateThrottles(ch)
}

// monotonic returns the new per-CPU counters, never letting one go below the
// value exported before unless idle jumped back far enough to be a reset.
func (c *cpuCollector) monotonic(cur map[int64]procfs.CPUStat) map[int64]procfs.CPUStat {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[int64]procfs.CPUStat, len(cur))
	for id, n := range cur {
		p, seen := c.previous[id]
		if !seen || p.Idle-n.Idle >= jumpBackSeconds {
			if seen {
				c.logger.Debug("CPU idle counter jumped backwards, resetting", "cpu", id, "old", p.Idle, "new", n.Idle)
			}
			p = procfs.CPUStat{}
		}
		p.User = max(p.User, n.User)
		p.Nice = max(p.Nice, n.Nice)
		p.System = max(p.System, n.System)
		p.Idle = max(p.Idle, n.Idle)
		p.Iowait = max(p.Iowait, n.Iowait)
		p.IRQ = max(p.IRQ, n.IRQ)
		p.SoftIRQ = max(p.SoftIRQ, n.SoftIRQ)
		p.Steal = max(p.Steal, n.Steal)
		p.Guest = max(p.Guest, n.Guest)
		p.GuestNice = max(p.GuestNice, n.GuestNice)
		out[id] = p
	}
	// Forget CPUs that went offline so that they start afresh if they return.
	clear(c.previous)
	for id, st := range out {
		c.previous[id] = st
	}
	return out
}

// updateThrottles exports the thermal throttle counters of
// /sys/devices/system/cpu/cpu*/thermal_throttle, present on bare-metal x86.
// Their absence (virtual machines, other architectures) is not an error.
func (c *cpuCollector) updateThrottles(ch *collector.Sink) error {
	cpus, err := filepath.Glob(c.cfg.sysPath("devices/system/cpu/cpu[0-9]*"))
	if err != nil {
		return fmt.Errorf("list cpus: %w", err)
	}
	type core struct{ pkg, core string }
	coreCounts := map[core]uint64{}
	pkgCounts := map[string]uint64{}
	for _, dir := range cpus {
		pkg, err := readTrimmed(filepath.Join(dir, "topology/physical_package_id"))
		if err != nil {
			continue // offline CPUs have no topology
		}
		coreID, err := readTrimmed(filepath.Join(dir, "topology/core_id"))
		if err != nil {
			continue
		}
		k := core{pkg, coreID}
		if _, done := coreCounts[k]; !done {
			if v, err := readUint(filepath.Join(dir, "thermal_throttle/core_throttle_count")); err == nil {
				coreCounts[k] = v
			} else if !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("read core throttle count: %w", err)
			}
		}
		if _, done := pkgCounts[pkg]; !done {
			if v, err := readUint(filepath.Join(dir, "thermal_throttle/package_throttle_count")); err == nil {
				pkgCounts[pkg] = v
			} else if !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("read package throttle count: %w", err)
			}
		}
	}
	for k, v := range coreCounts {
		ch.Send(c.coreThr.Metric(float64(v), k.pkg, k.core))
	}
	for pkg, v := range pkgCounts {
		ch.Send(c.pkgThr.Metric(float64(v), pkg))
	}
	return nil
}

// readTrimmed reads a small sysfs/procfs file without its trailing newline.
func readTrimmed(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// readUint reads a file that holds one unsigned decimal number.
func readUint(path string) (uint64, error) {
	s, err := readTrimmed(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	return v, nil
}
