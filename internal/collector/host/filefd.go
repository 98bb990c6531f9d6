package host

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("filefd", true, newFilefd) }

type filefdCollector struct {
	cfg            Config
	allocated, max collector.TypedDesc
}

func newFilefd(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	return &filefdCollector{
		cfg:       cfg,
		allocated: collector.NewTypedDesc("filefd", "allocated", "File descriptor statistics: allocated.", prometheus.GaugeValue),
		max:       collector.NewTypedDesc("filefd", "maximum", "File descriptor statistics: maximum.", prometheus.GaugeValue),
	}, nil
}

func (c *filefdCollector) Update(_ context.Context, ch *collector.Sink) error {
	nr, err := parseFile(c.cfg.procPath("sys", "fs", "file-nr"), parseFileNr)
	if err != nil {
		return err
	}
	ch.Send(c.allocated.Metric(nr.Allocated))
	ch.Send(c.max.Metric(nr.Maximum))
	return nil
}

// fileNr is /proc/sys/fs/file-nr.
type fileNr struct {
	Allocated float64 // file handles allocated
	Maximum   float64 // fs.file-max
}

// parseFileNr parses /proc/sys/fs/file-nr: "allocated unused maximum" (the
// middle field, always 0 since Linux 2.6, is not reported).
func parseFileNr(r io.Reader) (fileNr, error) {
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return fileNr{}, err
	}
	fields := appendFields(make([]string, 0, 3), string(b))
	if len(fields) < 3 {
		return fileNr{}, fmt.Errorf("want 3 fields, got %d", len(fields))
	}
	var nr fileNr
	if nr.Allocated, err = strconv.ParseFloat(fields[0], 64); err != nil {
		return fileNr{}, fmt.Errorf("invalid allocated count: %w", err)
	}
	if nr.Maximum, err = strconv.ParseFloat(fields[2], 64); err != nil {
		return fileNr{}, fmt.Errorf("invalid maximum: %w", err)
	}
	return nr, nil
}
