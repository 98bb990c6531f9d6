package cgroups

import (
	"bytes"
	"fmt"
)

// userHZ is the unit of cpuacct.stat: USER_HZ, 100 on every Linux ABI
// (runc and cAdvisor assume the same).
const userHZ = 100

// unlimitedMemory is where a memory limit stops being a limit: cgroup v1
// writes "unlimited" as the largest page-aligned int64 (9223372036854771712),
// and cAdvisor's container_spec_memory_limit_bytes reports anything that
// large as 0.
const unlimitedMemory = 1 << 62

// memoryLimit turns a limit into Stats' convention: 0 when unlimited.
func memoryLimit(v uint64) uint64 {
	if v >= unlimitedMemory {
		return 0
	}
	return v
}

// nsToSeconds converts nanoseconds to seconds.
func nsToSeconds(ns uint64) float64 { return float64(ns) / 1e9 }

var (
	cpuacctStatKeys = []string{"user", "system"}
	v1CPUStatKeys   = []string{"nr_periods", "nr_throttled", "throttled_time"}
)

// readV1CPU reads the cpuacct (usage) and cpu (CFS bandwidth and shares)
// controllers of cgroup v1; either directory may be nil or missing.
func (r *reader) readV1CPU(st *Stats, cpu, acct *cgDir) error {
	c := &st.CPU
	c.HasSpec = cpu.present()
	var vals [3]uint64

	b, ok, err := r.readRequired(acct, "cpuacct.usage")
	if err != nil {
		return err
	}
	if ok {
		v, err := parseSingle(b)
		if err != nil {
			return malformed(acct, "cpuacct.usage", err)
		}
		c.UsageSeconds = nsToSeconds(v)
		st.HasCPU = true
	}
	if b, ok, err = r.read(acct, "cpuacct.stat"); err != nil {
		return err
	}
	if ok {
		if _, err := parseFlatKeyed(b, cpuacctStatKeys, vals[:]); err != nil {
			return malformed(acct, "cpuacct.stat", err)
		}
		c.UserSeconds = float64(vals[0]) / userHZ
		c.SystemSeconds = float64(vals[1]) / userHZ
		st.HasCPU = true
	}

	if b, ok, err = r.readRequired(cpu, "cpu.stat"); err != nil {
		return err
	}
	if ok {
		vals = [3]uint64{}
		if _, err := parseFlatKeyed(b, v1CPUStatKeys, vals[:]); err != nil {
			return malformed(cpu, "cpu.stat", err)
		}
		c.Periods, c.ThrottledPeriods = vals[0], vals[1]
		c.ThrottledSeconds = nsToSeconds(vals[2])
		st.HasCPU = true
	}
	if b, ok, err = r.read(cpu, "cpu.cfs_quota_us"); err != nil {
		return err
	}
	if ok {
		q, err := parseInt(b)
		if err != nil {
			return malformed(cpu, "cpu.cfs_quota_us", err)
		}
		c.QuotaMicros = max(q, 0) // -1: no limit
		st.HasCPU = true
	}
	if b, ok, err = r.read(cpu, "cpu.cfs_period_us"); err != nil {
		return err
	}
	if ok {
		p, err := parseInt(b)
		if err != nil {
			return malformed(cpu, "cpu.cfs_period_us", err)
		}
		c.PeriodMicros = max(p, 0)
		st.HasCPU = true
	}
	if b, ok, err = r.read(cpu, "cpu.shares"); err != nil {
		return err
	}
	if ok {
		if c.Shares, err = parseSingle(b); err != nil {
			return malformed(cpu, "cpu.shares", err)
		}
		st.HasCPU = true
	}
	return nil
}

// v1MemoryStatKeys are the memory.stat keys read; the hierarchical total_*
// ones are used, the local ones only where a kernel lacks the total.
var v1MemoryStatKeys = []string{
	"total_rss", "total_cache", "total_mapped_file", "total_swap", "total_inactive_file",
	"rss", "cache", "mapped_file", "swap", "inactive_file",
}

var oomControlKeys = []string{"oom_kill"}

// readV1Memory reads the memory controller of cgroup v1.
func (r *reader) readV1Memory(st *Stats, d *cgDir) error {
	m := &st.Memory
	b, ok, err := r.readRequired(d, "memory.usage_in_bytes")
	if err != nil || !ok {
		return err
	}
	if m.Usage, err = parseSingle(b); err != nil {
		return malformed(d, "memory.usage_in_bytes", err)
	}
	st.HasMemory = true
	m.WorkingSet = m.Usage

	if b, ok, err = r.read(d, "memory.stat"); err != nil {
		return err
	}
	if ok {
		var vals [10]uint64
		found, err := parseFlatKeyed(b, v1MemoryStatKeys, vals[:])
		if err != nil {
			return malformed(d, "memory.stat", err)
		}
		pick := func(i int) uint64 { // total_X, else X
			if found&(1<<i) != 0 {
				return vals[i]
			}
			return vals[i+5]
		}
		m.RSS, m.Cache, m.MappedFile, m.Swap = pick(0), pick(1), pick(2), pick(3)
		if found&(1<<4|1<<9) != 0 {
			m.WorkingSet = workingSet(m.Usage, pick(4))
		}
	}

	if b, ok, err = r.read(d, "memory.failcnt"); err != nil {
		return err
	}
	if ok {
		if m.Failcnt, err = parseSingle(b); err != nil {
			return malformed(d, "memory.failcnt", err)
		}
	}
	if b, ok, err = r.read(d, "memory.limit_in_bytes"); err != nil {
		return err
	}
	if ok {
		v, err := parseSingle(b)
		if err != nil {
			return malformed(d, "memory.limit_in_bytes", err)
		}
		m.Limit = memoryLimit(v)
	}
	if b, ok, err = r.read(d, "memory.oom_control"); err != nil {
		return err
	}
	if ok {
		var v [1]uint64
		if _, err := parseFlatKeyed(b, oomControlKeys, v[:]); err != nil {
			return malformed(d, "memory.oom_control", err)
		}
		m.OOMKills = v[0] // absent before Linux 4.13: 0
	}
	return nil
}

// workingSet is cAdvisor's container_memory_working_set_bytes: usage less
// inactive file pages, never below 0.
func workingSet(usage, inactiveFile uint64) uint64 {
	if inactiveFile > usage {
		return 0
	}
	return usage - inactiveFile
}

// blkioFiles are the v1 blkio statistics in the order runc (and so cAdvisor)
// tries them: the first pair whose io_serviced file lists a device wins.
// The *_recursive files include the I/O of descendant cgroups (a pod's
// containers); the plain throttle files, the last resort, do not.
var blkioFiles = [...][2]string{
	{"blkio.bfq.io_serviced_recursive", "blkio.bfq.io_service_bytes_recursive"},
	{"blkio.io_serviced_recursive", "blkio.io_service_bytes_recursive"},
	{"blkio.throttle.io_serviced_recursive", "blkio.throttle.io_service_bytes_recursive"},
	{"blkio.throttle.io_serviced", "blkio.throttle.io_service_bytes"},
}

// readV1Blkio reads the blkio controller of cgroup v1.
func (r *reader) readV1Blkio(st *Stats, d *cgDir) error {
	var io []IOStats
	for _, pair := range blkioFiles {
		b, ok, err := r.read(d, pair[0])
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		st.HasIO = true
		if io, err = parseBlkio(b, io, false); err != nil {
			return malformed(d, pair[0], err)
		}
		if len(io) == 0 {
			continue
		}
		if b, ok, err = r.read(d, pair[1]); err != nil {
			return err
		}
		if ok {
			if io, err = parseBlkio(b, io, true); err != nil {
				return malformed(d, pair[1], err)
			}
		}
		break
	}
	sortIO(io)
	st.IO = io
	return nil
}

// parseBlkio parses a v1 blkio io_serviced (bytes false: operation counts)
// or io_service_bytes (bytes true) file, "major:minor Op value" lines,
// into dst: Read and Write go to dst's entry for the device; other
// operations (Sync, Async, Discard, Total) and the closing "Total N" line are
// skipped, though a device line of any operation adds the device.
func parseBlkio(data []byte, dst []IOStats, bytesFile bool) ([]IOStats, error) {
	for lineNo := 1; len(data) > 0; lineNo++ {
		var line []byte
		line, data = nextLine(data)
		dev, rest := nextField(line)
		if len(dev) == 0 || string(dev) == "Total" {
			continue
		}
		op, rest := nextField(rest)
		val, rest := nextField(rest)
		if len(val) == 0 || len(trimSpace(rest)) != 0 {
			return dst, fmt.Errorf("line %d: want \"major:minor op value\", got %q", lineNo, clip(line))
		}
		major, minor, err := parseDevice(dev)
		if err != nil {
			return dst, fmt.Errorf("line %d: %w", lineNo, err)
		}
		v, err := parseUint(val)
		if err != nil {
			return dst, fmt.Errorf("line %d: %w", lineNo, err)
		}
		var e *IOStats
		dst, e = ioEntry(dst, major, minor)
		switch {
		case bytes.Equal(op, []byte("Read")) && bytesFile:
			e.ReadBytes = v
		case bytes.Equal(op, []byte("Write")) && bytesFile:
			e.WriteBytes = v
		case bytes.Equal(op, []byte("Read")):
			e.Reads = v
		case bytes.Equal(op, []byte("Write")):
			e.Writes = v
		}
	}
	return dst, nil
}

// readV1Pids counts the processes and threads of a v1 cgroup: cgroup.procs
// and tasks of the first existing directory among dirs (cpu, cpuacct,
// memory, pids), pids.current when tasks is missing.
func (r *reader) readV1Pids(st *Stats, dirs [4]*cgDir, pids *cgDir) error {
	var d *cgDir
	for _, c := range dirs {
		if c.present() {
			d = c
			break
		}
	}
	if d == nil {
		return nil
	}
	b, ok, err := r.readRequired(d, "cgroup.procs")
	if err != nil || !ok {
		return err
	}
	if st.Processes, st.PID, err = parseProcs(b); err != nil {
		return malformed(d, "cgroup.procs", err)
	}
	st.HasPids = true
	if b, ok, err = r.read(d, "tasks"); err != nil {
		return err
	}
	if ok {
		if st.Threads, _, err = parseProcs(b); err != nil {
			return malformed(d, "tasks", err)
		}
		return nil
	}
	return r.readPidsCurrent(st, pids)
}

// readPidsCurrent sets Threads from pids.current (which counts descendant
// cgroups' tasks too).
func (r *reader) readPidsCurrent(st *Stats, d *cgDir) error {
	b, ok, err := r.read(d, "pids.current")
	if err != nil || !ok {
		return err
	}
	if st.Threads, err = parseSingle(b); err != nil {
		return malformed(d, "pids.current", err)
	}
	return nil
}
