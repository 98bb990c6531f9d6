package host

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("edac", true, newEdac) }

// edacMaxCount is how much of an EDAC counter file is read: one number.
const edacMaxCount = 64

// edacCollector reports the memory controllers' corrected (CE) and
// uncorrected (UE) error counts from /sys/devices/system/edac/mc.
type edacCollector struct {
	cfg    Config
	logger *slog.Logger

	ce, ue, csrowCE, csrowUE collector.TypedDesc
}

func newEdac(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	return &edacCollector{
		cfg:     cfg,
		logger:  logger,
		ce:      collector.NewTypedDesc("edac", "correctable_errors_total", "Total correctable memory errors.", prometheus.CounterValue, "controller"),
		ue:      collector.NewTypedDesc("edac", "uncorrectable_errors_total", "Total uncorrectable memory errors.", prometheus.CounterValue, "controller"),
		csrowCE: collector.NewTypedDesc("edac", "csrow_correctable_errors_total", "Total correctable memory errors for this csrow.", prometheus.CounterValue, "controller", "csrow"),
		csrowUE: collector.NewTypedDesc("edac", "csrow_uncorrectable_errors_total", "Total uncorrectable memory errors for this csrow.", prometheus.CounterValue, "controller", "csrow"),
	}, nil
}

// Update walks mc<N> and its csrow<M> directories. No EDAC driver is no
// controller and success, as in node_exporter. Errors that the kernel
// could not attribute to a row (ce_noinfo_count, ue_noinfo_count) are the
// csrow "unknown". A counter that cannot be read (a controller removed
// mid-read) fails the collector, naming it.
func (c *edacCollector) Update(_ context.Context, ch *collector.Sink) error {
	mcs, err := filepath.Glob(c.cfg.sysPath("devices", "system", "edac", "mc", "mc[0-9]*"))
	if err != nil {
		return fmt.Errorf("list edac controllers: %w", err)
	}
	for _, mc := range mcs {
		id := edacIndex(filepath.Base(mc), "mc")
		for _, f := range []struct {
			file  string
			desc  collector.TypedDesc
			csrow bool
		}{
			{"ce_count", c.ce, false},
			{"ce_noinfo_count", c.csrowCE, true},
			{"ue_count", c.ue, false},
			{"ue_noinfo_count", c.csrowUE, true},
		} {
			v, err := readEdacCount(filepath.Join(mc, f.file))
			if err != nil {
				return fmt.Errorf("edac controller %s: %w", id, err)
			}
			if f.csrow {
				ch.Send(f.desc.Metric(float64(v), id, "unknown"))
			} else {
				ch.Send(f.desc.Metric(float64(v), id))
			}
		}
		rows, err := filepath.Glob(filepath.Join(mc, "csrow[0-9]*"))
		if err != nil {
			return fmt.Errorf("list csrows of edac controller %s: %w", id, err)
		}
		for _, row := range rows {
			rid := edacIndex(filepath.Base(row), "csrow")
			ce, err := readEdacCount(filepath.Join(row, "ce_count"))
			if err != nil {
				return fmt.Errorf("edac controller %s csrow %s: %w", id, rid, err)
			}
			ch.Send(c.csrowCE.Metric(float64(ce), id, rid))
			ue, err := readEdacCount(filepath.Join(row, "ue_count"))
			if err != nil {
				return fmt.Errorf("edac controller %s csrow %s: %w", id, rid, err)
			}
			ch.Send(c.csrowUE.Metric(float64(ue), id, rid))
		}
	}
	return nil
}

// edacIndex returns the digits that follow prefix in name (mc0 -> 0); the
// glob guarantees at least one.
func edacIndex(name, prefix string) string {
	s := strings.TrimPrefix(name, prefix)
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return s[:n]
}

func readEdacCount(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	v, err := parseEdacCount(f)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	return v, nil
}

// parseEdacCount parses an EDAC counter file: one unsigned decimal number
// and a newline.
func parseEdacCount(r io.Reader) (uint64, error) {
	b, err := io.ReadAll(io.LimitReader(r, edacMaxCount))
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse edac count: %w", err)
	}
	return v, nil
}
