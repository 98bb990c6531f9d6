package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("bonding", true, newBonding) }

// bondingCollector counts the slaves of each bonding master, and those whose
// MII status is up, from /sys/class/net.
type bondingCollector struct {
	cfg            Config
	logger         *slog.Logger
	slaves, active collector.TypedDesc
}

func newBonding(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	g := prometheus.GaugeValue
	return &bondingCollector{
		cfg:    cfg,
		logger: logger,
		slaves: collector.NewTypedDesc("bonding", "slaves", "Number of configured slaves per bonding interface.", g, "master"),
		active: collector.NewTypedDesc("bonding", "active", "Number of active slaves per bonding interface.", g, "master"),
	}, nil
}

// Update reports every master. Without the bonding module there is no
// bonding_masters file: no data, as in node_exporter. A master or slave that
// disappears while it is read (an interface being torn down) fails the
// scrape of this collector alone, as node_exporter's does.
func (c *bondingCollector) Update(_ context.Context, ch *collector.Sink) error {
	root := c.cfg.sysPath("class", "net")
	stats, err := readBondingStats(root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no bonding in %s: %w: %w", root, collector.ErrNoData, err)
		}
		return err
	}
	for master, st := range stats {
		ch.Send(c.slaves.Metric(float64(st[0]), master))
		ch.Send(c.active.Metric(float64(st[1]), master))
	}
	return nil
}

// readBondingStats returns, per master, the number of slaves and of slaves
// whose mii_status is "up". Kernels since 4.x link a slave as lower_<slave>;
// older ones as slave_<slave>.
func readBondingStats(root string) (map[string][2]int, error) {
	masters, err := os.ReadFile(filepath.Join(root, "bonding_masters"))
	if err != nil {
		return nil, fmt.Errorf("read bonding masters: %w", err)
	}
	status := map[string][2]int{}
	for _, master := range strings.Fields(string(masters)) {
		if !safeName(master) {
			continue
		}
		slaves, err := os.ReadFile(filepath.Join(root, master, "bonding", "slaves"))
		if err != nil {
			return nil, fmt.Errorf("read slaves of %s: %w", master, err)
		}
		var st [2]int
		for _, slave := range strings.Fields(string(slaves)) {
			if !safeName(slave) {
				continue
			}
			state, err := os.ReadFile(filepath.Join(root, master, "lower_"+slave, "bonding_slave", "mii_status"))
			if errors.Is(err, fs.ErrNotExist) {
				state, err = os.ReadFile(filepath.Join(root, master, "slave_"+slave, "bonding_slave", "mii_status"))
			}
			if err != nil {
				return nil, fmt.Errorf("read mii_status of %s slave %s: %w", master, slave, err)
			}
			st[0]++
			if strings.TrimSpace(string(state)) == "up" {
				st[1]++
			}
		}
		status[master] = st
	}
	return status, nil
}

// safeName reports whether an interface name read from a file can be joined
// to a path without leaving the directory.
func safeName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsRune(name, '/')
}
