package cgroups

import "fmt"

var v2CPUStatKeys = []string{"usage_usec", "user_usec", "system_usec", "nr_periods", "nr_throttled", "throttled_usec"}

// usToSeconds converts microseconds to seconds.
func usToSeconds(us uint64) float64 { return float64(us) / 1e6 }

// readV2CPU reads the cpu controller of the unified hierarchy: cpu.stat,
// cpu.max and cpu.weight (the last two are absent at the root).
func (r *reader) readV2CPU(st *Stats, d *cgDir) error {
	c := &st.CPU
	c.HasSpec = d.present()
	b, ok, err := r.readRequired(d, "cpu.stat")
	if err != nil {
		return err
	}
	if ok {
		var v [6]uint64
		if _, err := parseFlatKeyed(b, v2CPUStatKeys, v[:]); err != nil {
			return malformed(d, "cpu.stat", err)
		}
		c.UsageSeconds, c.UserSeconds, c.SystemSeconds = usToSeconds(v[0]), usToSeconds(v[1]), usToSeconds(v[2])
		c.Periods, c.ThrottledPeriods, c.ThrottledSeconds = v[3], v[4], usToSeconds(v[5])
		st.HasCPU = true
	}
	if b, ok, err = r.read(d, "cpu.max"); err != nil {
		return err
	}
	if ok {
		if c.QuotaMicros, c.PeriodMicros, err = parseCPUMax(b); err != nil {
			return malformed(d, "cpu.max", err)
		}
		st.HasCPU = true
	}
	if b, ok, err = r.read(d, "cpu.weight"); err != nil {
		return err
	}
	if ok {
		w, err := parseSingle(b)
		if err == nil {
			c.Shares, err = weightToShares(w)
		}
		if err != nil {
			return malformed(d, "cpu.weight", err)
		}
		st.HasCPU = true
	}
	return nil
}

// parseCPUMax parses cpu.max, "$MAX $PERIOD" in microseconds, $MAX being
// "max" when unlimited (quota 0). A lone quota leaves the period 0.
func parseCPUMax(data []byte) (quota, period int64, err error) {
	q, rest := nextField(data)
	p, rest := nextField(rest)
	if len(q) == 0 || len(trimSpace(rest)) != 0 {
		return 0, 0, fmt.Errorf("want \"max|quota period\", got %q", clip(trimSpace(data)))
	}
	if string(q) != "max" {
		if quota, err = parseInt(q); err != nil {
			return 0, 0, fmt.Errorf("quota: %w", err)
		}
		quota = max(quota, 0)
	}
	if len(p) != 0 {
		if period, err = parseInt(p); err != nil {
			return 0, 0, fmt.Errorf("period: %w", err)
		}
		period = max(period, 0)
	}
	return quota, period, nil
}

// weightToShares converts cpu.weight (1..10000) to v1 cpu.shares
// (2..262144), the inverse of the conversion runc and the kubelet apply,
// as cAdvisor does.
func weightToShares(w uint64) (uint64, error) {
	if w < 1 || w > 10000 {
		return 0, fmt.Errorf("weight %d outside 1..10000", w)
	}
	return 2 + ((w-1)*262142)/9999, nil
}

// parseMemoryMax parses memory.max (or memory.swap.max): "max" or a byte
// count; unlimited gives 0.
func parseMemoryMax(data []byte) (uint64, error) {
	if string(trimSpace(data)) == "max" {
		return 0, nil
	}
	v, err := parseUint(data)
	if err != nil {
		return 0, err
	}
	return memoryLimit(v), nil
}

var (
	v2MemoryStatKeys = []string{"anon", "file", "file_mapped", "inactive_file"}
	memoryEventsKeys = []string{"oom_kill"}
)

// readV2Memory reads the memory controller of the unified hierarchy. At the
// root cgroup, which has no memory.current, HasMemory stays false.
func (r *reader) readV2Memory(st *Stats, d *cgDir) error {
	m := &st.Memory
	read := r.readRequired
	if r.rel == "/" {
		read = r.read
	}
	b, ok, err := read(d, "memory.current")
	if err != nil || !ok {
		return err
	}
	if m.Usage, err = parseSingle(b); err != nil {
		return malformed(d, "memory.current", err)
	}
	st.HasMemory = true
	m.WorkingSet = m.Usage

	if b, ok, err = r.read(d, "memory.stat"); err != nil {
		return err
	}
	if ok {
		var v [4]uint64
		found, err := parseFlatKeyed(b, v2MemoryStatKeys, v[:])
		if err != nil {
			return malformed(d, "memory.stat", err)
		}
		m.RSS, m.Cache, m.MappedFile = v[0], v[1], v[2]
		if found&(1<<3) != 0 {
			m.WorkingSet = workingSet(m.Usage, v[3])
		}
	}
	if b, ok, err = r.read(d, "memory.swap.current"); err != nil {
		return err
	}
	if ok {
		if m.Swap, err = parseSingle(b); err != nil {
			return malformed(d, "memory.swap.current", err)
		}
	}
	if b, ok, err = r.read(d, "memory.max"); err != nil {
		return err
	}
	if ok {
		if m.Limit, err = parseMemoryMax(b); err != nil {
			return malformed(d, "memory.max", err)
		}
	}
	if b, ok, err = r.read(d, "memory.events"); err != nil {
		return err
	}
	if ok {
		var v [1]uint64
		if _, err := parseFlatKeyed(b, memoryEventsKeys, v[:]); err != nil {
			return malformed(d, "memory.events", err)
		}
		m.OOMKills = v[0]
	}
	return nil
}

// readV2IO reads io.stat of the unified hierarchy.
func (r *reader) readV2IO(st *Stats, d *cgDir) error {
	b, ok, err := r.read(d, "io.stat")
	if err != nil || !ok {
		return err
	}
	io, err := parseIOStat(b, nil)
	if err != nil {
		return malformed(d, "io.stat", err)
	}
	sortIO(io)
	st.IO, st.HasIO = io, true
	return nil
}

// parseIOStat parses io.stat, a nested keyed file of
// "major:minor rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N" lines,
// into dst (entries of the same device are merged, the last value winning).
// Keys other than rbytes, wbytes, rios and wios are skipped unparsed; a
// field without "=" or a bad number for a known key is an error.
func parseIOStat(data []byte, dst []IOStats) ([]IOStats, error) {
	for lineNo := 1; len(data) > 0; lineNo++ {
		var line []byte
		line, data = nextLine(data)
		dev, rest := nextField(line)
		if len(dev) == 0 {
			continue
		}
		major, minor, err := parseDevice(dev)
		if err != nil {
			return dst, fmt.Errorf("line %d: %w", lineNo, err)
		}
		var e *IOStats
		dst, e = ioEntry(dst, major, minor)
		for {
			var kv []byte
			kv, rest = nextField(rest)
			if len(kv) == 0 {
				break
			}
			i := 0
			for i < len(kv) && kv[i] != '=' {
				i++
			}
			if i == len(kv) || i == 0 {
				return dst, fmt.Errorf("line %d: want key=value, got %q", lineNo, clip(kv))
			}
			var field *uint64
			switch string(kv[:i]) {
			case "rbytes":
				field = &e.ReadBytes
			case "wbytes":
				field = &e.WriteBytes
			case "rios":
				field = &e.Reads
			case "wios":
				field = &e.Writes
			default:
				continue
			}
			v, err := parseUint(kv[i+1:])
			if err != nil {
				return dst, fmt.Errorf("line %d: %s: %w", lineNo, kv[:i], err)
			}
			*field = v
		}
	}
	return dst, nil
}

// readV2Pids counts processes (cgroup.procs) and threads (cgroup.threads,
// else pids.current when the pids controller is enabled).
func (r *reader) readV2Pids(st *Stats, d *cgDir, pidsEnabled bool) error {
	b, ok, err := r.readRequired(d, "cgroup.procs")
	if err != nil || !ok {
		return err
	}
	if st.Processes, st.PID, err = parseProcs(b); err != nil {
		return malformed(d, "cgroup.procs", err)
	}
	st.HasPids = true
	if b, ok, err = r.read(d, "cgroup.threads"); err != nil {
		return err
	}
	if ok {
		if st.Threads, _, err = parseProcs(b); err != nil {
			return malformed(d, "cgroup.threads", err)
		}
		return nil
	}
	if pidsEnabled {
		return r.readPidsCurrent(st, d)
	}
	return nil
}
