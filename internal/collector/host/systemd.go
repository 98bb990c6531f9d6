package host

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// node_exporter's defaults for the systemd unit filters.
const (
	DefaultSystemdUnitInclude = `.+`
	DefaultSystemdUnitExclude = `.+\.(automount|device|mount|scope|slice)`
)

// minSystemdVersionSystemState is the first systemd with the manager's
// SystemState property and the timers' LastTriggerUSec.
const minSystemdVersionSystemState = 212

// SystemdConfig configures the systemd collector, with node_exporter's flags.
type SystemdConfig struct {
	UnitInclude string // regexp; a unit is reported when it matches this and not UnitExclude
	UnitExclude string
	// The per-unit extras node_exporter leaves off by default: each one is
	// a D-Bus round trip per unit per scrape.
	EnableTaskMetrics      bool
	EnableRestartsMetrics  bool
	EnableStartTimeMetrics bool
}

// The systemd collector (off by default, as in node_exporter) asks systemd
// over D-Bus, with go-systemd as node_exporter does, for its units and their
// states. It is in the lean agent build too: go-systemd and godbus add about
// 0.65 MB (3%) to it, and systemd hosts are where agents run.
func init() { register("systemd", false, newSystemd) }

var unitStatesName = []string{"active", "activating", "deactivating", "inactive", "failed"}

var systemdVersionRE = regexp.MustCompile(`[0-9]{3,}(\.[0-9]+)?`)

type systemdCollector struct {
	cfg     Config
	logger  *slog.Logger
	include *regexp.Regexp
	exclude *regexp.Regexp

	unit, startTime, tasksCurrent, tasksMax, systemRunning, summary,
	restarts, timerLastTrigger, socketAccepted, socketCurrent, socketRefused,
	version collector.TypedDesc
}

func newSystemd(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	// Anchored as node_exporter anchors them: the pattern names whole units.
	include, err := regexp.Compile("^(?:" + cfg.Systemd.UnitInclude + ")$")
	if err != nil {
		return nil, fmt.Errorf("--collector.systemd.unit-include: %w", err)
	}
	exclude, err := regexp.Compile("^(?:" + cfg.Systemd.UnitExclude + ")$")
	if err != nil {
		return nil, fmt.Errorf("--collector.systemd.unit-exclude: %w", err)
	}
	g := prometheus.GaugeValue
	d := func(name, help string, t prometheus.ValueType, labels ...string) collector.TypedDesc {
		return collector.NewTypedDesc("systemd", name, help, t, labels...)
	}
	return &systemdCollector{
		cfg: cfg, logger: logger, include: include, exclude: exclude,
		unit:             d("unit_state", "Systemd unit", g, "name", "state", "type"),
		startTime:        d("unit_start_time_seconds", "Start time of the unit since unix epoch in seconds.", g, "name"),
		tasksCurrent:     d("unit_tasks_current", "Current number of tasks per Systemd unit", g, "name"),
		tasksMax:         d("unit_tasks_max", "Maximum number of tasks per Systemd unit", g, "name"),
		systemRunning:    d("system_running", "Whether the system is operational (see 'systemctl is-system-running')", g),
		summary:          d("units", "Summary of systemd unit states", g, "state"),
		restarts:         d("service_restart_total", "Service unit count of Restart triggers", prometheus.CounterValue, "name"),
		timerLastTrigger: d("timer_last_trigger_seconds", "Seconds since epoch of last trigger.", g, "name"),
		socketAccepted:   d("socket_accepted_connections_total", "Total number of accepted socket connections", prometheus.CounterValue, "name"),
		socketCurrent:    d("socket_current_connections", "Current number of socket connections", g, "name"),
		// node_exporter 1.5 types the refused count, despite its _total
		// name, as a gauge; kept for parity.
		socketRefused: d("socket_refused_connections_total", "Total number of refused socket connections", g, "name"),
		version:       d("version", "Detected systemd version", g, "version"),
	}, nil
}

// systemBusAddress is where the system bus listens: $DBUS_SYSTEM_BUS_ADDRESS
// as for every D-Bus client, else the well-known socket under the root file
// system (the host's, when the agent runs in a container with the host's /
// mounted). A variable so that the tests can point the fixture root at a
// private bus.
var systemBusAddress = func(cfg Config) string {
	if a := os.Getenv("DBUS_SYSTEM_BUS_ADDRESS"); a != "" {
		return a
	}
	return "unix:path=" + cfg.rootfsPath("run", "dbus", "system_bus_socket")
}

// dialBus opens an authenticated connection to address; hello is false for
// systemd's private socket, which is no bus.
func dialBus(ctx context.Context, address string, hello bool) (*dbus.Conn, error) {
	conn, err := dbus.Dial(address, dbus.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	if err := conn.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
		_ = conn.Close()
		return nil, err
	}
	if hello {
		if err := conn.Hello(); err != nil {
			_ = conn.Close()
			return nil, err
		}
	}
	return conn, nil
}

// connect reaches systemd as go-systemd's NewWithContext does, which is
// what node_exporter uses: the system bus, and as root, when there is no
// bus, systemd's private socket.
func (c *systemdCollector) connect(ctx context.Context) (*sdbus.Conn, error) {
	addr := systemBusAddress(c.cfg)
	conn, err := sdbus.NewConnection(func() (*dbus.Conn, error) { return dialBus(ctx, addr, true) })
	if err == nil || os.Geteuid() != 0 {
		if err != nil {
			return nil, fmt.Errorf("connect to the system bus at %s: %w", addr, err)
		}
		return conn, nil
	}
	private := "unix:path=" + c.cfg.rootfsPath("run", "systemd", "private")
	conn, perr := sdbus.NewConnection(func() (*dbus.Conn, error) { return dialBus(ctx, private, false) })
	if perr != nil {
		return nil, fmt.Errorf("connect to systemd: system bus at %s: %w; private socket: %w", addr, err, perr)
	}
	return conn, nil
}

func (c *systemdCollector) Update(ctx context.Context, ch *collector.Sink) error {
	conn, err := c.connect(ctx)
	if err != nil {
		return fmt.Errorf("couldn't get dbus connection: %w", err)
	}
	defer conn.Close()

	version, versionFull := c.systemdVersion(conn)
	ch.Send(c.version.Metric(version, versionFull))

	units, err := conn.ListUnitsContext(ctx)
	if err != nil {
		return fmt.Errorf("couldn't get units: %w", err)
	}
	summary := map[string]float64{}
	for _, s := range unitStatesName {
		summary[s] = 0
	}
	for _, u := range units {
		summary[u.ActiveState]++
	}
	for state, n := range summary {
		ch.Send(c.summary.Metric(n, state))
	}

	filtered := units[:0:0]
	for _, u := range units {
		if u.LoadState == "loaded" && c.include.MatchString(u.Name) && !c.exclude.MatchString(u.Name) {
			filtered = append(filtered, u)
		}
	}
	// One unit at a time: node_exporter runs these loops in parallel to hide
	// D-Bus latency, but the Sink is not shared between goroutines and a
	// filtered unit list is short.
	for _, u := range filtered {
		c.unitStatus(ctx, conn, ch, u)
		if c.cfg.Systemd.EnableStartTimeMetrics {
			c.unitStartTime(ctx, conn, ch, u)
		}
		if c.cfg.Systemd.EnableTaskMetrics && strings.HasSuffix(u.Name, ".service") {
			c.unitTasks(ctx, conn, ch, u)
		}
		if version >= minSystemdVersionSystemState && strings.HasSuffix(u.Name, ".timer") {
			if v, ok := typeProperty[uint64](ctx, c, conn, u.Name, "Timer", "LastTriggerUSec"); ok {
				ch.Send(c.timerLastTrigger.Metric(float64(v)/1e6, u.Name))
			}
		}
		if strings.HasSuffix(u.Name, ".socket") {
			c.socket(ctx, conn, ch, u)
		}
	}
	if version < minSystemdVersionSystemState {
		return nil
	}
	state, err := conn.GetManagerProperty("SystemState")
	if err != nil {
		return fmt.Errorf("couldn't get system state: %w", err)
	}
	running := 0.0
	if state == `"running"` {
		running = 1
	}
	ch.Send(c.systemRunning.Metric(running))
	return nil
}

func (c *systemdCollector) unitStatus(ctx context.Context, conn *sdbus.Conn, ch *collector.Sink, u sdbus.UnitStatus) {
	serviceType := ""
	switch {
	case strings.HasSuffix(u.Name, ".service"):
		serviceType, _ = typeProperty[string](ctx, c, conn, u.Name, "Service", "Type")
	case strings.HasSuffix(u.Name, ".mount"):
		serviceType, _ = typeProperty[string](ctx, c, conn, u.Name, "Mount", "Type")
	}
	for _, state := range unitStatesName {
		v := 0.0
		if state == u.ActiveState {
			v = 1
		}
		ch.Send(c.unit.Metric(v, u.Name, state, serviceType))
	}
	if c.cfg.Systemd.EnableRestartsMetrics && strings.HasSuffix(u.Name, ".service") {
		// NRestarts is systemd 235+.
		if n, ok := typeProperty[uint32](ctx, c, conn, u.Name, "Service", "NRestarts"); ok {
			ch.Send(c.restarts.Metric(float64(n), u.Name))
		}
	}
}

func (c *systemdCollector) unitStartTime(ctx context.Context, conn *sdbus.Conn, ch *collector.Sink, u sdbus.UnitStatus) {
	var usec uint64
	if u.ActiveState == "active" {
		p, err := conn.GetUnitPropertyContext(ctx, u.Name, "ActiveEnterTimestamp")
		if err != nil {
			c.logger.Debug("couldn't get unit ActiveEnterTimestamp", "unit", u.Name, "err", err)
			return
		}
		v, ok := p.Value.Value().(uint64)
		if !ok {
			c.logger.Debug("unit ActiveEnterTimestamp is not a uint64", "unit", u.Name, "value", p.Value.String())
			return
		}
		usec = v
	}
	ch.Send(c.startTime.Metric(float64(usec)/1e6, u.Name))
}

func (c *systemdCollector) unitTasks(ctx context.Context, conn *sdbus.Conn, ch *collector.Sink, u sdbus.UnitStatus) {
	// systemd reports "no value" as MaxUint64, which node_exporter leaves out.
	if v, ok := typeProperty[uint64](ctx, c, conn, u.Name, "Service", "TasksCurrent"); ok && v != math.MaxUint64 {
		ch.Send(c.tasksCurrent.Metric(float64(v), u.Name))
	}
	if v, ok := typeProperty[uint64](ctx, c, conn, u.Name, "Service", "TasksMax"); ok && v != math.MaxUint64 {
		ch.Send(c.tasksMax.Metric(float64(v), u.Name))
	}
}

func (c *systemdCollector) socket(ctx context.Context, conn *sdbus.Conn, ch *collector.Sink, u sdbus.UnitStatus) {
	accepted, ok := typeProperty[uint32](ctx, c, conn, u.Name, "Socket", "NAccepted")
	if !ok {
		return
	}
	ch.Send(c.socketAccepted.Metric(float64(accepted), u.Name))
	current, ok := typeProperty[uint32](ctx, c, conn, u.Name, "Socket", "NConnections")
	if !ok {
		return
	}
	ch.Send(c.socketCurrent.Metric(float64(current), u.Name))
	// NRefused is systemd 239+.
	if refused, ok := typeProperty[uint32](ctx, c, conn, u.Name, "Socket", "NRefused"); ok {
		ch.Send(c.socketRefused.Metric(float64(refused), u.Name))
	}
}

// typeProperty reads a property of a unit's type interface (Service,
// Socket, ...). A missing property (an older systemd) or one of another
// type is logged at debug level and skipped, as node_exporter does, but
// never panics.
func typeProperty[T any](ctx context.Context, c *systemdCollector, conn *sdbus.Conn, unit, unitType, name string) (T, bool) {
	var zero T
	p, err := conn.GetUnitTypePropertyContext(ctx, unit, unitType, name)
	if err != nil {
		c.logger.Debug("couldn't get unit property", "unit", unit, "property", name, "err", err)
		return zero, false
	}
	v, ok := p.Value.Value().(T)
	if !ok {
		c.logger.Debug("unit property has an unexpected type", "unit", unit, "property", name, "value", p.Value.String())
		return zero, false
	}
	return v, true
}

// systemdVersion returns the manager's version as a number (0 when it
// cannot be read or parsed) and as systemd spells it.
func (c *systemdCollector) systemdVersion(conn *sdbus.Conn) (float64, string) {
	version, err := conn.GetManagerProperty("Version")
	if err != nil {
		c.logger.Debug("unable to get the systemd version, defaulting to 0", "err", err)
		return 0, ""
	}
	version = strings.TrimPrefix(strings.TrimSuffix(version, `"`), `"`)
	v, err := strconv.ParseFloat(systemdVersionRE.FindString(version), 64)
	if err != nil {
		c.logger.Debug("invalid systemd version", "version", version)
		return 0, ""
	}
	return v, version
}
