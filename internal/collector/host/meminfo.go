package host

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("meminfo", true, newMeminfo) }

const meminfoPrefix = collector.Namespace + "_memory_"

type meminfoCollector struct {
	cfg   Config
	descs collector.DescCache
}

func newMeminfo(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	return &meminfoCollector{cfg: cfg}, nil
}

func (c *meminfoCollector) Update(_ context.Context, ch *collector.Sink) error {
	path := c.cfg.procPath("meminfo")
	entries, err := parseFile(path, parseMeminfo)
	if err != nil {
		return err
	}
	for _, e := range entries {
		// node_exporter types a field as a counter by its name alone.
		t := prometheus.GaugeValue
		if strings.HasSuffix(e.Key, "_total") {
			t = prometheus.CounterValue
		}
		d := c.descs.Get(meminfoPrefix+e.Key, "Memory information field "+e.Key+".", t)
		ch.Send(d.Metric(e.Value))
	}
	return nil
}

// meminfoEntry is one /proc/meminfo field under its node_exporter name.
type meminfoEntry = keyValue

// keyValue is one field of a "key value" file (/proc/meminfo, /proc/vmstat)
// under its metric-name suffix: Active_anon_bytes, HugePages_Total, pgfault.
type keyValue struct {
	Key   string
	Value float64
}

// parseMeminfo parses /proc/meminfo. Keys are named as node_exporter names
// them: a parenthesised part becomes an underscore-separated suffix
// (Active(anon) -> Active_anon) and a field with a unit, always kB, is
// converted to bytes and gets a _bytes suffix (HugePages_Total has no unit
// and keeps its name). A key repeated in the input keeps its first position
// and its last value; a key that cannot form a metric name is skipped.
func parseMeminfo(r io.Reader) ([]meminfoEntry, error) {
	out := newLastValue[string, meminfoEntry](64)
	var fields []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		fields = appendFields(fields[:0], line)
		if len(fields) == 0 {
			continue // some kernels emit blank lines
		}
		if len(fields) < 2 || len(fields) > 3 {
			return nil, fmt.Errorf("invalid meminfo line %q", line)
		}
		v, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			return nil, fmt.Errorf("invalid value in meminfo line %q: %w", line, err)
		}
		key := meminfoKey(strings.TrimSuffix(fields[0], ":"))
		if len(fields) == 3 {
			v *= 1024
			key += "_bytes"
		}
		if !legalNamePart(key) {
			continue
		}
		out.put(key, meminfoEntry{Key: key, Value: v})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out.entries, nil
}

// meminfoKey turns "Active(anon)" into "Active_anon": the text from the first
// '(' to the last ')' is replaced by '_' and what was inside, as
// node_exporter's greedy `\((.*)\)` replacement does.
func meminfoKey(s string) string {
	i := strings.IndexByte(s, '(')
	if i < 0 {
		return s
	}
	j := strings.LastIndexByte(s, ')')
	if j < i {
		return s
	}
	return s[:i] + "_" + s[i+1:j] + s[j+1:]
}

// legalNamePart reports whether s is non-empty and may follow "node_..._" in
// a metric name (ASCII letters, digits, '_' and ':').
func legalNamePart(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == ':') {
			return false
		}
	}
	return true
}

// parseFile opens path and parses it with parse, naming the file in errors
// (a missing file wraps fs.ErrNotExist).
func parseFile[T any](path string, parse func(io.Reader) (T, error)) (T, error) {
	var zero T
	f, err := os.Open(path)
	if err != nil {
		return zero, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	v, err := parse(f)
	if err != nil {
		return zero, fmt.Errorf("read %s: %w", path, err)
	}
	return v, nil
}

// appendFields appends the whitespace-separated fields of line to dst, like
// strings.Fields without allocating a new slice for every line.
func appendFields(dst []string, line string) []string {
	i := 0
	for i < len(line) {
		for i < len(line) && isFieldSpace(line[i]) {
			i++
		}
		start := i
		for i < len(line) && !isFieldSpace(line[i]) {
			i++
		}
		if i > start {
			dst = append(dst, line[start:i])
		}
	}
	return dst
}

func isFieldSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f'
}

// lastValue collects parsed entries in the order their keys first appear; a
// key seen again keeps that position and takes the new entry, so that a
// malformed file (a field listed twice) can never produce duplicate series.
type lastValue[K comparable, E any] struct {
	entries []E
	index   map[K]int
}

func newLastValue[K comparable, E any](capacity int) *lastValue[K, E] {
	return &lastValue[K, E]{entries: make([]E, 0, capacity), index: make(map[K]int, capacity)}
}

func (l *lastValue[K, E]) put(k K, e E) {
	if i, dup := l.index[k]; dup {
		l.entries[i] = e
		return
	}
	l.index[k] = len(l.entries)
	l.entries = append(l.entries, e)
}
