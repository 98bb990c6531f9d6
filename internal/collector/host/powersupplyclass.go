package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs/sysfs"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// DefaultPowerSupplyIgnored is node_exporter's default: ignore nothing.
const DefaultPowerSupplyIgnored = `^$`

// PowerSupplyClassConfig selects the power supplies reported.
type PowerSupplyClassConfig struct {
	IgnoredSupplies string // regexp of /sys/class/power_supply entries (BAT0, AC, ...) to leave out
}

func init() { register("powersupplyclass", true, newPowerSupplyClass) }

// powerSupplyField is one numeric attribute of a power supply and the
// factor that turns the kernel's unit into the exported one.
type powerSupplyField struct {
	name  string
	get   func(*sysfs.PowerSupply) *int64
	scale float64 // multiply by it; 0 means divide by div
	div   float64
}

// powerSupplyFields lists node_exporter 1.5's attributes: counts and
// seconds as read, micro-units (µA, µWh, µV, µW) divided by 1e6 and tenths
// of a degree by 10.
var powerSupplyFields = func() []powerSupplyField {
	raw := func(name string, get func(*sysfs.PowerSupply) *int64) powerSupplyField {
		return powerSupplyField{name: name, get: get, scale: 1}
	}
	micro := func(name string, get func(*sysfs.PowerSupply) *int64) powerSupplyField {
		return powerSupplyField{name: name, get: get, div: 1e6}
	}
	tenth := func(name string, get func(*sysfs.PowerSupply) *int64) powerSupplyField {
		return powerSupplyField{name: name, get: get, div: 10.0}
	}
	type ps = sysfs.PowerSupply
	return []powerSupplyField{
		raw("authentic", func(p *ps) *int64 { return p.Authentic }),
		raw("calibrate", func(p *ps) *int64 { return p.Calibrate }),
		raw("capacity", func(p *ps) *int64 { return p.Capacity }),
		raw("capacity_alert_max", func(p *ps) *int64 { return p.CapacityAlertMax }),
		raw("capacity_alert_min", func(p *ps) *int64 { return p.CapacityAlertMin }),
		raw("cyclecount", func(p *ps) *int64 { return p.CycleCount }),
		raw("online", func(p *ps) *int64 { return p.Online }),
		raw("present", func(p *ps) *int64 { return p.Present }),
		raw("time_to_empty_seconds", func(p *ps) *int64 { return p.TimeToEmptyNow }),
		raw("time_to_full_seconds", func(p *ps) *int64 { return p.TimeToFullNow }),
		micro("current_boot", func(p *ps) *int64 { return p.CurrentBoot }),
		micro("current_max", func(p *ps) *int64 { return p.CurrentMax }),
		micro("current_ampere", func(p *ps) *int64 { return p.CurrentNow }),
		micro("energy_empty", func(p *ps) *int64 { return p.EnergyEmpty }),
		micro("energy_empty_design", func(p *ps) *int64 { return p.EnergyEmptyDesign }),
		micro("energy_full", func(p *ps) *int64 { return p.EnergyFull }),
		micro("energy_full_design", func(p *ps) *int64 { return p.EnergyFullDesign }),
		micro("energy_watthour", func(p *ps) *int64 { return p.EnergyNow }),
		micro("voltage_boot", func(p *ps) *int64 { return p.VoltageBoot }),
		micro("voltage_max", func(p *ps) *int64 { return p.VoltageMax }),
		micro("voltage_max_design", func(p *ps) *int64 { return p.VoltageMaxDesign }),
		micro("voltage_min", func(p *ps) *int64 { return p.VoltageMin }),
		micro("voltage_min_design", func(p *ps) *int64 { return p.VoltageMinDesign }),
		micro("voltage_volt", func(p *ps) *int64 { return p.VoltageNow }),
		micro("voltage_ocv", func(p *ps) *int64 { return p.VoltageOCV }),
		micro("charge_control_limit", func(p *ps) *int64 { return p.ChargeControlLimit }),
		micro("charge_control_limit_max", func(p *ps) *int64 { return p.ChargeControlLimitMax }),
		micro("charge_counter", func(p *ps) *int64 { return p.ChargeCounter }),
		micro("charge_empty", func(p *ps) *int64 { return p.ChargeEmpty }),
		micro("charge_empty_design", func(p *ps) *int64 { return p.ChargeEmptyDesign }),
		micro("charge_full", func(p *ps) *int64 { return p.ChargeFull }),
		micro("charge_full_design", func(p *ps) *int64 { return p.ChargeFullDesign }),
		micro("charge_ampere", func(p *ps) *int64 { return p.ChargeNow }),
		micro("charge_term_current", func(p *ps) *int64 { return p.ChargeTermCurrent }),
		micro("constant_charge_current", func(p *ps) *int64 { return p.ConstantChargeCurrent }),
		micro("constant_charge_current_max", func(p *ps) *int64 { return p.ConstantChargeCurrentMax }),
		micro("constant_charge_voltage", func(p *ps) *int64 { return p.ConstantChargeVoltage }),
		micro("constant_charge_voltage_max", func(p *ps) *int64 { return p.ConstantChargeVoltageMax }),
		micro("precharge_current", func(p *ps) *int64 { return p.PrechargeCurrent }),
		micro("input_current_limit", func(p *ps) *int64 { return p.InputCurrentLimit }),
		micro("power_watt", func(p *ps) *int64 { return p.PowerNow }),
		tenth("temp_celsius", func(p *ps) *int64 { return p.Temp }),
		tenth("temp_alert_max_celsius", func(p *ps) *int64 { return p.TempAlertMax }),
		tenth("temp_alert_min_celsius", func(p *ps) *int64 { return p.TempAlertMin }),
		tenth("temp_ambient_celsius", func(p *ps) *int64 { return p.TempAmbient }),
		tenth("temp_ambient_max_celsius", func(p *ps) *int64 { return p.TempAmbientMax }),
		tenth("temp_ambient_min_celsius", func(p *ps) *int64 { return p.TempAmbientMin }),
		tenth("temp_max_celsius", func(p *ps) *int64 { return p.TempMax }),
		tenth("temp_min_celsius", func(p *ps) *int64 { return p.TempMin }),
	}
}()

// powerSupplyInfoLabels are the string attributes that label
// node_power_supply_info, in label-name order; only those a supply has
// become labels, so the label set differs between a battery and a mains
// adapter, as in node_exporter.
var powerSupplyInfoLabels = []struct {
	name string
	get  func(*sysfs.PowerSupply) string
}{
	{"capacity_level", func(p *sysfs.PowerSupply) string { return p.CapacityLevel }},
	{"charge_type", func(p *sysfs.PowerSupply) string { return p.ChargeType }},
	{"health", func(p *sysfs.PowerSupply) string { return p.Health }},
	{"manufacturer", func(p *sysfs.PowerSupply) string { return p.Manufacturer }},
	{"model_name", func(p *sysfs.PowerSupply) string { return p.ModelName }},
	{"power_supply", func(p *sysfs.PowerSupply) string { return p.Name }},
	{"scope", func(p *sysfs.PowerSupply) string { return p.Scope }},
	{"serial_number", func(p *sysfs.PowerSupply) string { return p.SerialNumber }},
	{"status", func(p *sysfs.PowerSupply) string { return p.Status }},
	{"technology", func(p *sysfs.PowerSupply) string { return p.Technology }},
	{"type", func(p *sysfs.PowerSupply) string { return p.Type }},
	{"usb_type", func(p *sysfs.PowerSupply) string { return p.UsbType }},
}

type powerSupplyClassCollector struct {
	cfg     Config
	logger  *slog.Logger
	ignored *regexp.Regexp
	fields  []collector.TypedDesc // one per powerSupplyFields entry

	mu    sync.Mutex
	infos map[string]collector.TypedDesc // by joined label names
}

func newPowerSupplyClass(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	re, err := regexp.Compile(cfg.PowerSupplyClass.IgnoredSupplies)
	if err != nil {
		return nil, fmt.Errorf("powersupply ignored supplies: %w", err)
	}
	c := &powerSupplyClassCollector{cfg: cfg, logger: logger, ignored: re, infos: map[string]collector.TypedDesc{}}
	for _, f := range powerSupplyFields {
		c.fields = append(c.fields, collector.NewTypedDesc("power_supply", f.name,
			f.name+" value of /sys/class/power_supply/<power_supply>.", prometheus.GaugeValue, "power_supply"))
	}
	return c, nil
}

// Update reads /sys/class/power_supply. Without it (no power_supply class
// in the kernel) there is no data; an empty directory (a server, a VM) is
// success with nothing, as in node_exporter.
func (c *powerSupplyClassCollector) Update(_ context.Context, ch *collector.Sink) error {
	dir := c.cfg.sysPath("class", "power_supply")
	sfs, err := sysfs.NewFS(c.cfg.SysRoot)
	if err != nil {
		return fmt.Errorf("open sysfs: %w", err)
	}
	supplies, err := sfs.PowerSupplyClass()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("read %s: %w: %w", dir, collector.ErrNoData, err)
		}
		return fmt.Errorf("read %s: %w", dir, err)
	}
	for name, ps := range supplies {
		if c.ignored.MatchString(name) {
			continue
		}
		for i, f := range powerSupplyFields {
			v := f.get(&ps)
			if v == nil {
				continue
			}
			x := float64(*v)
			if f.div != 0 {
				x /= f.div
			}
			ch.Send(c.fields[i].Metric(x, ps.Name))
		}
		var names, values []string
		for _, l := range powerSupplyInfoLabels {
			if v := l.get(&ps); v != "" {
				names = append(names, l.name)
				values = append(values, v)
			}
		}
		ch.Send(c.infoDesc(names).Metric(1, values...))
	}
	return nil
}

// infoDesc returns node_power_supply_info's descriptor for one label set.
func (c *powerSupplyClassCollector) infoDesc(names []string) collector.TypedDesc {
	key := strings.Join(names, ",")
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.infos[key]
	if !ok {
		d = collector.NewTypedDesc("power_supply", "info", "info of /sys/class/power_supply/<power_supply>.", prometheus.GaugeValue, names...)
		c.infos[key] = d
	}
	return d
}
