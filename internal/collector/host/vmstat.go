package host

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// DefaultVmstatFields is node_exporter's default selection of /proc/vmstat.
const DefaultVmstatFields = `^(oom_kill|pgpg|pswp|pg.*fault).*`

// VmstatConfig selects the fields reported.
type VmstatConfig struct {
	Fields string // regexp of /proc/vmstat keys to keep
}

func init() { register("vmstat", true, newVmstat) }

const vmstatPrefix = collector.Namespace + "_vmstat_"

type vmstatCollector struct {
	cfg    Config
	fields *collector.Filter
	descs  collector.DescCache
}

func newVmstat(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	fields, err := collector.NewFilter(cfg.Vmstat.Fields, "")
	if err != nil {
		return nil, fmt.Errorf("vmstat fields: %w", err)
	}
	return &vmstatCollector{cfg: cfg, fields: fields}, nil
}

func (c *vmstatCollector) Update(_ context.Context, ch *collector.Sink) error {
	entries, err := parseFile(c.cfg.procPath("vmstat"), parseVmstat)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if c.fields.Ignored(e.Key) {
			continue
		}
		d := c.descs.Get(vmstatPrefix+e.Key, "/proc/vmstat information field "+e.Key+".", prometheus.UntypedValue)
		ch.Send(d.Metric(e.Value))
	}
	return nil
}

// vmstatEntry is one /proc/vmstat field.
type vmstatEntry = keyValue

// parseVmstat parses /proc/vmstat, "key value" per line (extra fields are
// ignored, as node_exporter ignores them). A repeated key keeps its first
// position and its last value; a key that cannot form a metric name is
// skipped.
func parseVmstat(r io.Reader) ([]vmstatEntry, error) {
	out := newLastValue[string, vmstatEntry](256)
	var fields []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		fields = appendFields(fields[:0], line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) < 2 {
			return nil, fmt.Errorf("invalid vmstat line %q", line)
		}
		key := fields[0]
		v, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			return nil, fmt.Errorf("invalid value in vmstat line %q: %w", line, err)
		}
		if !legalNamePart(key) {
			continue
		}
		out.put(key, vmstatEntry{Key: key, Value: v})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out.entries, nil
}
