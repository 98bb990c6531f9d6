package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("sockstat", true, newSockstat) }

const sockstatPrefix = collector.Namespace + "_sockstat_"

type sockstatCollector struct {
	cfg      Config
	logger   *slog.Logger
	pageSize int // for the *_mem_bytes families, mem being in pages
	used     collector.TypedDesc
	descs    collector.DescCache
}

func newSockstat(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	return &sockstatCollector{
		cfg:      cfg,
		logger:   logger,
		pageSize: os.Getpagesize(),
		used:     collector.NewTypedDesc("sockstat", "sockets_used", "Number of IPv4 sockets in use.", prometheus.GaugeValue),
	}, nil
}

func (c *sockstatCollector) Update(_ context.Context, ch *collector.Sink) error {
	pfs, err := c.cfg.procFS()
	if err != nil {
		return err
	}
	// Either file may be missing on a kernel built without that IP version;
	// only both missing is an error.
	stat4, err4 := pfs.NetSockstat()
	if err4 != nil {
		if !errors.Is(err4, fs.ErrNotExist) {
			return fmt.Errorf("read %s: %w", c.cfg.procPath("net", "sockstat"), err4)
		}
		c.logger.Debug("no IPv4 sockstat", "err", err4)
		stat4 = nil
	}
	stat6, err6 := pfs.NetSockstat6()
	if err6 != nil {
		if !errors.Is(err6, fs.ErrNotExist) {
			return fmt.Errorf("read %s: %w", c.cfg.procPath("net", "sockstat6"), err6)
		}
		c.logger.Debug("no IPv6 sockstat", "err", err6)
		stat6 = nil
	}
	if stat4 == nil && stat6 == nil {
		return fmt.Errorf("read %s: %w", c.cfg.procPath("net", "sockstat"), err4)
	}
	if stat4 != nil && stat4.Used != nil {
		ch.Send(c.used.Metric(float64(*stat4.Used)))
	}
	var seen []string // protocols emitted, against duplicates in odd input
	for _, s := range [...]*procfs.NetSockstat{stat4, stat6} {
		if s == nil {
			continue
		}
	protocols:
		for _, p := range s.Protocols {
			if !legalNamePart(p.Protocol) {
				continue
			}
			for _, name := range seen {
				if name == p.Protocol {
					continue protocols
				}
			}
			seen = append(seen, p.Protocol)
			c.emit(ch, p.Protocol, "inuse", &p.InUse)
			c.emit(ch, p.Protocol, "orphan", p.Orphan)
			c.emit(ch, p.Protocol, "tw", p.TW)
			c.emit(ch, p.Protocol, "alloc", p.Alloc)
			c.emit(ch, p.Protocol, "mem", p.Mem)
			c.emit(ch, p.Protocol, "memory", p.Memory)
			if p.Mem != nil {
				ch.Send(c.desc(p.Protocol, "mem_bytes").Metric(float64(*p.Mem) * float64(c.pageSize)))
			}
		}
	}
	return nil
}

// emit sends protocol_state if the file had that value.
func (c *sockstatCollector) emit(ch *collector.Sink, protocol, state string, v *int) {
	if v == nil {
		return
	}
	ch.Send(c.desc(protocol, state).Metric(float64(*v)))
}

func (c *sockstatCollector) desc(protocol, state string) collector.TypedDesc {
	return c.descs.Get(sockstatPrefix+protocol+"_"+state,
		"Number of "+protocol+" sockets in state "+state+".", prometheus.GaugeValue)
}
