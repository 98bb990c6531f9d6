package cgroups

// The byte parsers shared by the v1 and v2 readers: numbers, flat keyed
// files, id lists and device numbers. Each is a pure function of a file's
// bytes (untrusted: each has a fuzzer in parse_test.go); read.go opens the
// files and hands their bytes over. The parsers of one controller's format
// (blkio.*, io.stat, cpu.max, memory.max) stay beside their reader in v1.go
// and v2.go.

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
)

var (
	errSyntax = errors.New("invalid number")
	errRange  = errors.New("number out of range")
)

// trimSpace trims ASCII spaces, tabs and newlines at both ends.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// parseUint parses a decimal unsigned number, surrounding whitespace
// allowed. A negative number reads as 0, as runc reads them: some kernels
// report small negative memory counters.
func parseUint(b []byte) (uint64, error) {
	b = trimSpace(b)
	if len(b) > 0 && b[0] == '-' {
		if _, err := parseDigits(b[1:]); err != nil {
			return 0, err
		}
		return 0, nil
	}
	return parseDigits(b)
}

// parseDigits parses a non-empty run of decimal digits into a uint64.
func parseDigits(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, errSyntax
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w %q", errSyntax, clip(b))
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, fmt.Errorf("%w %q", errRange, clip(b))
		}
		n = n*10 + d
	}
	return n, nil
}

// parseInt parses a decimal signed number, surrounding whitespace allowed.
func parseInt(b []byte) (int64, error) {
	b = trimSpace(b)
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	u, err := parseDigits(b)
	if err != nil {
		return 0, err
	}
	if neg {
		switch {
		case u > 1<<63:
			return 0, fmt.Errorf("%w %q", errRange, clip(b))
		case u == 1<<63:
			return math.MinInt64, nil
		}
		return -int64(u), nil
	}
	if u > 1<<63-1 {
		return 0, fmt.Errorf("%w %q", errRange, clip(b))
	}
	return int64(u), nil
}

// clip shortens b for an error message.
func clip(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// nextLine splits data at its first newline.
func nextLine(data []byte) (line, rest []byte) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return data[:i], data[i+1:]
	}
	return data, nil
}

// nextField returns the first whitespace-separated field of b and what
// follows it.
func nextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	j := i
	for j < len(b) && !isSpace(b[j]) {
		j++
	}
	return b[i:j], b[j:]
}

// parseFlatKeyed parses a flat keyed file ("key value" lines: memory.stat,
// cpu.stat, cpuacct.stat, memory.events, memory.oom_control), storing the
// value of keys[i] into vals[i]. Bit i of found is set when keys[i] was seen
// (at most 64 keys; for a duplicated key the last line wins). Lines of other
// keys are not looked at beyond their key, so a kernel adding a key with an
// odd value does not break the parse; a wanted key whose value is missing,
// not a number or followed by more fields is an error.
func parseFlatKeyed(data []byte, keys []string, vals []uint64) (found uint64, err error) {
	if len(vals) < len(keys) || len(keys) > 64 {
		return 0, errors.New("parseFlatKeyed: bad arguments")
	}
	for lineNo := 1; len(data) > 0; lineNo++ {
		var line []byte
		line, data = nextLine(data)
		key, rest := nextField(line)
		if len(key) == 0 {
			continue
		}
		for i, k := range keys {
			if string(key) != k {
				continue
			}
			val, extra := nextField(rest)
			if len(trimSpace(extra)) != 0 {
				return found, fmt.Errorf("line %d: %s: unexpected fields after the value", lineNo, k)
			}
			v, err := parseUint(val)
			if err != nil {
				return found, fmt.Errorf("line %d: %s: %w", lineNo, k, err)
			}
			vals[i] = v
			found |= 1 << i
			break
		}
	}
	return found, nil
}

// parseSingle parses a file holding one unsigned number (memory.current,
// cpu.shares, cpuacct.usage).
func parseSingle(data []byte) (uint64, error) { return parseUint(data) }

// parseProcs reads a list of ids, one a line (cgroup.procs, tasks,
// cgroup.threads): their number and the first one (0 when empty). Only the
// first id is checked to be a number; blank lines are not counted.
func parseProcs(data []byte) (n uint64, first int, err error) {
	first = -1
	for len(data) > 0 {
		var line []byte
		line, data = nextLine(data)
		line = trimSpace(line)
		if len(line) == 0 {
			continue
		}
		if first < 0 {
			v, err := parseDigits(line)
			if err != nil || v > 1<<31-1 {
				return 0, 0, fmt.Errorf("line 1: bad pid %q", clip(line))
			}
			first = int(v)
		}
		n++
	}
	if first < 0 {
		first = 0
	}
	return n, first, nil
}

// sortIO sorts per-device stats by major, then minor number.
func sortIO(s []IOStats) {
	slices.SortFunc(s, func(a, b IOStats) int {
		if a.Major != b.Major {
			if a.Major < b.Major {
				return -1
			}
			return 1
		}
		switch {
		case a.Minor < b.Minor:
			return -1
		case a.Minor > b.Minor:
			return 1
		}
		return 0
	})
}

// ioEntry returns the entry of dev major:minor in s, appending one when
// absent.
func ioEntry(s []IOStats, major, minor uint64) ([]IOStats, *IOStats) {
	for i := range s {
		if s[i].Major == major && s[i].Minor == minor {
			return s, &s[i]
		}
	}
	s = append(s, IOStats{Major: major, Minor: minor})
	return s, &s[len(s)-1]
}

// parseDevice parses "major:minor".
func parseDevice(b []byte) (major, minor uint64, err error) {
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		return 0, 0, fmt.Errorf("bad device %q", clip(b))
	}
	if major, err = parseDigits(b[:i]); err != nil {
		return 0, 0, fmt.Errorf("bad device %q: %w", clip(b), err)
	}
	if minor, err = parseDigits(b[i+1:]); err != nil {
		return 0, 0, fmt.Errorf("bad device %q: %w", clip(b), err)
	}
	return major, minor, nil
}
