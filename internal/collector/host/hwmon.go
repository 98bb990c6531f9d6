package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("hwmon", true, newHwmon) }

// hwmonSensorTypes are the sensor file prefixes node_exporter reads; any
// other file in a chip directory (name, uevent, driver ...) is left alone.
var hwmonSensorTypes = map[string]bool{
	"vrm": true, "beep_enable": true, "update_interval": true, "in": true,
	"cpu": true, "fan": true, "pwm": true, "temp": true, "curr": true,
	"power": true, "energy": true, "humidity": true, "intrusion": true,
}

// hwmonFileName is the kernel's sensor file naming, <type><index>_<item>
// (Documentation/hwmon/sysfs-interface.rst), with index and item optional.
// It is matched as a regular expression, not split by hand, so that odd
// names (no index, underscores in the type) group exactly as in
// node_exporter.
var hwmonFileName = regexp.MustCompile(`^([^0-9]+)([0-9]*)(?:_(.+))?$`)

// hwmonBadChars are those not allowed in a chip name or a metric name part.
var hwmonBadChars = regexp.MustCompile(`[^a-z0-9:_]`)

// hwmonMaxValue is how much of a sensor file is read: values are one number
// or a short label.
const hwmonMaxValue = 128

type hwmonCollector struct {
	cfg    Config
	logger *slog.Logger
	descs  collector.DescCache

	chipName, sensorLabel collector.TypedDesc
}

func newHwmon(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	return &hwmonCollector{
		cfg:         cfg,
		logger:      logger,
		chipName:    collector.NewTypedDesc("hwmon", "chip_names", "Annotation metric for human-readable chip names", prometheus.GaugeValue, "chip", "chip_name"),
		sensorLabel: collector.NewTypedDesc("hwmon", "sensor_label", "Label for given chip and sensor", prometheus.GaugeValue, "chip", "sensor", "label"),
	}, nil
}

// Update walks <sys>/class/hwmon. As in node_exporter, a sensor file that
// cannot be read (EIO from a flaky chip, EAGAIN, a file that vanished) only
// drops that value, while a chip directory that cannot be listed fails the
// collector after the other chips are reported.
func (c *hwmonCollector) Update(_ context.Context, ch *collector.Sink) error {
	root := c.cfg.sysPath("class", "hwmon")
	entries, err := os.ReadDir(root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("read %s: hwmon metrics are not available on this system: %w: %w", root, collector.ErrNoData, err)
		}
		return fmt.Errorf("read %s: %w", root, err)
	}
	var lastErr error
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		// The entries are symlinks into /sys/devices; follow them.
		st, err := os.Stat(dir)
		if err != nil || !st.IsDir() {
			continue
		}
		if err := c.updateChip(ch, dir); err != nil {
			lastErr = err
		}
	}
	return lastErr
}

func (c *hwmonCollector) updateChip(ch *collector.Sink, dir string) error {
	chip, err := hwmonChipID(dir)
	if err != nil {
		return err
	}
	data := map[string]map[string]string{}
	var bad []string
	var badErr error
	collect := func(d string) error {
		files, err := os.ReadDir(d)
		if err != nil {
			return fmt.Errorf("read hwmon chip %s: %w", d, err)
		}
		for _, f := range files {
			typ, num, prop, ok := splitHwmonFileName(f.Name())
			if !ok || !hwmonSensorTypes[typ] {
				continue
			}
			v, err := readHwmonFile(filepath.Join(d, f.Name()))
			if err != nil {
				bad = append(bad, f.Name())
				badErr = err
				continue
			}
			sensor := typ + strconv.Itoa(num)
			if data[sensor] == nil {
				data[sensor] = map[string]string{}
			}
			data[sensor][prop] = v
		}
		return nil
	}
	if err := collect(dir); err != nil {
		return err
	}
	// Older drivers (coretemp before Linux 3.x, some i2c chips) keep their
	// sensor files in the device directory rather than the hwmon one.
	if _, err := os.Stat(filepath.Join(dir, "device")); err == nil {
		if err := collect(filepath.Join(dir, "device")); err != nil {
			return err
		}
	}
	if len(bad) > 0 {
		// Subdirectories such as power/ match a sensor prefix and fail to
		// read on every chip, so this is not worth more than debug.
		c.logger.Debug("skipped unreadable hwmon sensor files", "chip", chip, "files", strings.Join(bad, ","), "err", badErr)
	}
	if name, ok := hwmonHumanName(dir); ok {
		ch.Send(c.chipName.Metric(1, chip, name))
	}
	for sensor, props := range data {
		c.sendSensor(ch, chip, sensor, props)
	}
	return nil
}

// sendSensor turns one sensor's files into samples, with node_exporter's
// names, units and HELP.
func (c *hwmonCollector) sendSensor(ch *collector.Sink, chip, sensor string, props map[string]string) {
	typ, _, _, _ := splitHwmonFileName(sensor)
	labels := []string{chip, sensor}
	if label, ok := props["label"]; ok {
		ch.Send(c.sensorLabel.Metric(1, chip, sensor, label))
	}
	gauge := func(name, help string, v float64) {
		ch.Send(c.descs.Get(name, help, prometheus.GaugeValue, "chip", "sensor").Metric(v, labels...))
	}
	switch typ {
	case "beep_enable":
		v := 0.0
		if props[""] == "1" {
			v = 1
		}
		gauge("node_hwmon_beep_enabled", "Hardware beep enabled", v)
		return
	case "vrm":
		if v, err := strconv.ParseFloat(props[""], 64); err == nil {
			gauge("node_hwmon_voltage_regulator_version", "Hardware voltage regulator", v)
		}
		return
	case "update_interval":
		if v, err := strconv.ParseFloat(props[""], 64); err == nil {
			gauge("node_hwmon_update_interval_seconds", "Hardware monitor update interval", v*0.001)
		}
		return
	}
	prefix := "node_hwmon_" + typ
	_, hasBare := props[""]
	for item, raw := range props {
		if item == "label" {
			continue
		}
		name := prefix
		switch {
		case item == "input" && hasBare:
			// Both <type>N and <type>N_input exist: keep them apart.
			name += "_input"
		case item != "input" && item != "":
			name += "_" + hwmonCleanName(item)
		}
		v, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			continue
		}
		switch {
		case item == "fault" || item == "alarm":
			gauge(name, "Hardware sensor "+item+" status ("+typ+")", v)
		case item == "beep":
			gauge(name+"_enabled", "Hardware monitor sensor has beeping enabled", v)
		case typ == "in" || typ == "cpu":
			gauge(name+"_volts", "Hardware monitor for voltage ("+item+")", v*0.001)
		case typ == "temp" && item != "type":
			if item == "" {
				item = "input"
			}
			gauge(name+"_celsius", "Hardware monitor for temperature ("+item+")", v*0.001)
		case typ == "curr":
			gauge(name+"_amps", "Hardware monitor for current ("+item+")", v*0.001)
		case typ == "energy":
			// Microjoules since the chip started counting.
			d := c.descs.Get(name+"_joule_total", "Hardware monitor for joules used so far ("+item+")", prometheus.CounterValue, "chip", "sensor")
			ch.Send(d.Metric(v/1e6, labels...))
		case typ == "power" && item == "accuracy":
			gauge(name, "Hardware monitor power meter accuracy, as a ratio", v/1e6)
		case typ == "power" && (item == "average_interval" || item == "average_interval_min" || item == "average_interval_max"):
			gauge(name+"_seconds", "Hardware monitor power usage update interval ("+item+")", v*0.001)
		case typ == "power":
			gauge(name+"_watt", "Hardware monitor for power usage in watts ("+item+")", v/1e6)
		case typ == "humidity":
			gauge(name, "Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the humidity as a percentage) ("+item+")", v/1e6)
		case typ == "fan" && (item == "input" || item == "min" || item == "max" || item == "target"):
			gauge(name+"_rpm", "Hardware monitor for fan revolutions per minute ("+item+")", v)
		default:
			// pwm, intrusion, temp<N>_type, fan<N>_pulses ...: as read.
			gauge(name, "Hardware monitor "+typ+" element "+item, v)
		}
	}
}

// splitHwmonFileName splits temp1_crit_alarm into temp, 1, crit_alarm. The
// index is 0 when absent. ok is false for names that are not sensor files.
func splitHwmonFileName(name string) (typ string, num int, prop string, ok bool) {
	m := hwmonFileName.FindStringSubmatch(name)
	if m == nil {
		return "", 0, "", false
	}
	if m[2] != "" {
		n, err := strconv.Atoi(m[2])
		if err != nil {
			return "", 0, "", false
		}
		num = n
	}
	return m[1], num, m[3], true
}

// hwmonCleanName lowercases s and turns characters outside [a-z0-9:_] into
// underscores, trimming them at both ends.
func hwmonCleanName(s string) string {
	return strings.Trim(hwmonBadChars.ReplaceAllLiteralString(strings.ToLower(s), "_"), "_")
}

// hwmonChipID names a chip after its device, which is stable across reboots
// (hwmonN numbers follow module load order): platform_coretemp_0,
// pci0000:00_0000:00:18_3. Without a device it falls back to the name file,
// then to hwmonN, as node_exporter does.
func hwmonChipID(dir string) (string, error) {
	if dev, err := filepath.EvalSymlinks(filepath.Join(dir, "device")); err == nil {
		parent, base := filepath.Split(dev)
		devName := hwmonCleanName(base)
		devType := hwmonCleanName(filepath.Base(strings.TrimRight(parent, "/")))
		if devType != "" && devName != "" {
			return devType + "_" + devName, nil
		}
		if devName != "" {
			return devName, nil
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "name")); err == nil {
		if n := hwmonCleanName(string(b)); n != "" {
			return n, nil
		}
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("resolve hwmon chip %s: %w", dir, err)
	}
	if n := hwmonCleanName(filepath.Base(real)); n != "" {
		return n, nil
	}
	return "", fmt.Errorf("no name for hwmon chip %s", dir)
}

// hwmonHumanName is the driver's chip name (coretemp, nct6775), which
// several chips may share.
func hwmonHumanName(dir string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "name"))
	if err != nil {
		return "", false
	}
	n := hwmonCleanName(string(b))
	return n, n != ""
}

// readHwmonFile reads one sensor file.
func readHwmonFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	v, err := parseHwmonValue(f)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return v, nil
}

// parseHwmonValue reads a sensor value with a single read. Some broken
// drivers answer EAGAIN forever; a read loop (io.ReadAll) would spin on
// them, so one read either gets the value or fails. The trailing newlines
// are dropped.
func parseHwmonValue(r io.Reader) (string, error) {
	var buf [hwmonMaxValue]byte
	n, err := r.Read(buf[:])
	if err != nil && !(errors.Is(err, io.EOF) && n == 0) {
		return "", err
	}
	return strings.Trim(string(buf[:n]), "\n"), nil
}
