package host

import (
	"bufio"
	"bytes"
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

func init() { register("selinux", true, newSelinux) }

// selinuxCollector reports whether SELinux is on and its modes. node_exporter
// asks opencontainers/selinux, which looks for selinuxfs at /sys/fs/selinux,
// reads its enforce file and the SELINUX= line of /etc/selinux/config; we
// read the same files under the configured roots, without the library.
type selinuxCollector struct {
	cfg                          Config
	enabled, configMode, current collector.TypedDesc
}

func newSelinux(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	return &selinuxCollector{
		cfg:        cfg,
		enabled:    collector.NewTypedDesc("selinux", "enabled", "SELinux is enabled, 1 is true, 0 is false", prometheus.GaugeValue),
		configMode: collector.NewTypedDesc("selinux", "config_mode", "Configured SELinux enforcement mode", prometheus.GaugeValue),
		current:    collector.NewTypedDesc("selinux", "current_mode", "Current SELinux enforcement mode", prometheus.GaugeValue),
	}, nil
}

func (c *selinuxCollector) Update(_ context.Context, ch *collector.Sink) error {
	// A missing sys root is a misconfigured agent, not a host without
	// SELinux: say so rather than report "disabled".
	if _, err := os.Stat(c.cfg.SysRoot); err != nil {
		return fmt.Errorf("open sysfs: %w", err)
	}
	enforce, err := os.ReadFile(c.cfg.sysPath("fs", "selinux", "enforce"))
	if err != nil || !c.labelled() {
		ch.Send(c.enabled.Metric(0))
		return nil
	}
	ch.Send(c.enabled.Metric(1))
	ch.Send(c.configMode.Metric(float64(c.configuredMode())))
	current := -1 // what the library answers for an unreadable enforce file
	if v, err := strconv.Atoi(strings.TrimSpace(string(enforce))); err == nil {
		current = v
	}
	ch.Send(c.current.Metric(float64(current)))
	return nil
}

// labelled mirrors the library's last check: a process labelled "kernel"
// runs on a host where SELinux was mounted but never loaded a policy.
func (c *selinuxCollector) labelled() bool {
	b, err := os.ReadFile(c.cfg.procPath("self", "attr", "current"))
	if err != nil {
		return true
	}
	return string(bytes.TrimRight(b, "\x00\n")) != "kernel"
}

// configuredMode reads SELINUX= from /etc/selinux/config: 1 enforcing,
// 0 permissive, -1 disabled or unreadable, as the library maps it.
func (c *selinuxCollector) configuredMode() int {
	f, err := os.Open(c.cfg.rootfsPath("etc", "selinux", "config"))
	if err != nil {
		return -1
	}
	defer f.Close()
	mode, _ := parseSelinuxConfig(f)
	return mode
}

// parseSelinuxConfig returns the mode named by the SELINUX= line of an
// /etc/selinux/config file.
func parseSelinuxConfig(r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) != "SELINUX" {
			continue
		}
		// The first SELINUX= line wins, as in the library.
		switch strings.Trim(strings.TrimSpace(v), `"`) {
		case "enforcing":
			return 1, nil
		case "permissive":
			return 0, nil
		default:
			return -1, nil
		}
	}
	if err := sc.Err(); err != nil {
		return -1, fmt.Errorf("read selinux config: %w", err)
	}
	return -1, nil
}
