package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs/sysfs"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("dmi", true, newDMI) }

// dmiHelp is node_exporter's HELP for node_dmi_info.
const dmiHelp = "A metric with a constant '1' value labeled by bios_date, bios_release, bios_vendor, bios_version, " +
	"board_asset_tag, board_name, board_serial, board_vendor, board_version, chassis_asset_tag, " +
	"chassis_serial, chassis_vendor, chassis_version, product_family, product_name, product_serial, " +
	"product_sku, product_uuid, product_version, system_vendor if provided by DMI."

// dmiCollector reports node_dmi_info from /sys/class/dmi/id: the machine's
// vendor, product, board and firmware, which change only with a reboot or a
// firmware update, so they are read once.
type dmiCollector struct {
	cfg    Config
	logger *slog.Logger

	mu     sync.Mutex
	read   bool // info holds the values read once
	info   collector.TypedDesc
	values []string
}

func newDMI(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	return &dmiCollector{cfg: cfg, logger: logger}, nil
}

// Update reports the values read on the first successful scrape. Without
// DMI (ARM boards, most containers' /sys) there is no data; a read error is
// retried on the next scrape, where node_exporter would refuse to start.
// Root-only files (the serial numbers, the UUID) are left out when the
// agent is not root.
func (c *dmiCollector) Update(_ context.Context, ch *collector.Sink) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.read {
		if err := c.load(); err != nil {
			return err
		}
	}
	if len(c.values) == 0 {
		return fmt.Errorf("no DMI information in %s: %w", c.cfg.sysPath("class", "dmi", "id"), collector.ErrNoData)
	}
	ch.Send(c.info.Metric(1, c.values...))
	return nil
}

func (c *dmiCollector) load() error {
	sfs, err := sysfs.NewFS(c.cfg.SysRoot)
	if err != nil {
		return fmt.Errorf("open sysfs: %w", err)
	}
	dmi, err := sfs.DMIClass()
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("read Desktop Management Interface (DMI) information: %w", err)
		}
		c.logger.Debug("platform does not support Desktop Management Interface (DMI) information", "err", err)
		dmi = &sysfs.DMIClass{}
	}
	var labels, values []string
	// In label-name order; absent files are left out, as node_exporter does.
	for _, l := range []struct {
		name string
		v    *string
	}{
		{"bios_date", dmi.BiosDate},
		{"bios_release", dmi.BiosRelease},
		{"bios_vendor", dmi.BiosVendor},
		{"bios_version", dmi.BiosVersion},
		{"board_asset_tag", dmi.BoardAssetTag},
		{"board_name", dmi.BoardName},
		{"board_serial", dmi.BoardSerial},
		{"board_vendor", dmi.BoardVendor},
		{"board_version", dmi.BoardVersion},
		{"chassis_asset_tag", dmi.ChassisAssetTag},
		{"chassis_serial", dmi.ChassisSerial},
		{"chassis_vendor", dmi.ChassisVendor},
		{"chassis_version", dmi.ChassisVersion},
		{"product_family", dmi.ProductFamily},
		{"product_name", dmi.ProductName},
		{"product_serial", dmi.ProductSerial},
		{"product_sku", dmi.ProductSKU},
		{"product_uuid", dmi.ProductUUID},
		{"product_version", dmi.ProductVersion},
		{"system_vendor", dmi.SystemVendor},
	} {
		if l.v != nil {
			labels = append(labels, l.name)
			values = append(values, *l.v)
		}
	}
	c.info = collector.NewTypedDesc("dmi", "info", dmiHelp, prometheus.GaugeValue, labels...)
	c.values = values
	c.read = true
	return nil
}
