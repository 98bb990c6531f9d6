package host

// systemd cannot run on the machines the tests run on (no systemd as PID 1,
// and it cannot be a fixture: it answers over D-Bus), so these tests run a
// real, private dbus-daemon and on it a FAKE org.freedesktop.systemd1 written
// with godbus: the units of a small Debian server (ssh, cron, a failed
// nginx, a socket, a timer, a device, a mount, a unit that is not found).
// The fake answers the calls that go-systemd makes for node_exporter and
// for us; node_exporter 1.5 itself is run against it to check that both
// read the same bus the same way.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/panoptes-dev/panoptes/internal/collector"
	"github.com/panoptes-dev/panoptes/internal/testkit"
)

// fakeUnit is one unit of the fake systemd and its type-specific
// properties, by D-Bus interface suffix (Service, Socket, Timer, Mount,
// Unit).
type fakeUnit struct {
	Name, Description, LoadState, ActiveState, SubState string
	props                                               map[string]map[string]any
}

// fakeUnits model a Debian 12 server with systemd 252 (values are ours).
var fakeUnits = []fakeUnit{
	{Name: "ssh.service", Description: "OpenBSD Secure Shell server", LoadState: "loaded", ActiveState: "active", SubState: "running",
		props: map[string]map[string]any{
			"Service": {"Type": "notify", "NRestarts": uint32(0), "TasksCurrent": uint64(1), "TasksMax": uint64(4915)},
			"Unit":    {"ActiveEnterTimestamp": uint64(1764901234567890)},
		}},
	{Name: "cron.service", Description: "Regular background program processing daemon", LoadState: "loaded", ActiveState: "active", SubState: "running",
		props: map[string]map[string]any{
			// No TasksMax limit: systemd says MaxUint64, node_exporter drops it.
			"Service": {"Type": "simple", "NRestarts": uint32(2), "TasksCurrent": uint64(3), "TasksMax": ^uint64(0)},
			"Unit":    {"ActiveEnterTimestamp": uint64(1764901235000000)},
		}},
	{Name: "nginx.service", Description: "A high performance web server", LoadState: "loaded", ActiveState: "failed", SubState: "failed",
		props: map[string]map[string]any{
			"Service": {"Type": "forking", "NRestarts": uint32(5), "TasksCurrent": ^uint64(0), "TasksMax": uint64(4915)},
		}},
	{Name: "postgresql.service", Description: "PostgreSQL RDBMS", LoadState: "loaded", ActiveState: "activating", SubState: "start",
		props: map[string]map[string]any{
			"Service": {"Type": "oneshot", "NRestarts": uint32(0), "TasksCurrent": uint64(1), "TasksMax": uint64(4915)},
		}},
	{Name: "docker.socket", Description: "Docker Socket for the API", LoadState: "loaded", ActiveState: "active", SubState: "listening",
		props: map[string]map[string]any{
			"Socket": {"NAccepted": uint32(12), "NConnections": uint32(1), "NRefused": uint32(3)},
			"Unit":   {"ActiveEnterTimestamp": uint64(1764901233000000)},
		}},
	{Name: "apt-daily.timer", Description: "Daily apt download activities", LoadState: "loaded", ActiveState: "active", SubState: "waiting",
		props: map[string]map[string]any{
			"Timer": {"LastTriggerUSec": uint64(1764950400123456)},
			"Unit":  {"ActiveEnterTimestamp": uint64(1764901233500000)},
		}},
	{Name: "multi-user.target", Description: "Multi-User System", LoadState: "loaded", ActiveState: "active", SubState: "active",
		props: map[string]map[string]any{"Unit": {"ActiveEnterTimestamp": uint64(1764901236000000)}}},
	{Name: "dev-vda1.device", Description: "/dev/vda1", LoadState: "loaded", ActiveState: "active", SubState: "plugged"},
	{Name: "home.mount", Description: "/home", LoadState: "loaded", ActiveState: "active", SubState: "mounted",
		props: map[string]map[string]any{"Mount": {"Type": "ext4"}}},
	{Name: "system-getty.slice", Description: "Slice /system/getty", LoadState: "loaded", ActiveState: "active", SubState: "active"},
	{Name: "nfs-server.service", Description: "nfs-server.service", LoadState: "not-found", ActiveState: "inactive", SubState: "dead"},
	{Name: "rescue.service", Description: "Rescue Shell", LoadState: "loaded", ActiveState: "inactive", SubState: "dead",
		props: map[string]map[string]any{"Service": {"Type": "idle", "NRestarts": uint32(0), "TasksCurrent": ^uint64(0), "TasksMax": uint64(4915)}}},
}

// unitRow is one ListUnits entry, signature (ssssssouso).
type unitRow struct {
	Name, Description, LoadState, ActiveState, SubState, Followed string
	Path                                                          dbus.ObjectPath
	JobID                                                         uint32
	JobType                                                       string
	JobPath                                                       dbus.ObjectPath
}

type fakeManager struct{ units []fakeUnit }

func (m fakeManager) ListUnits() ([]unitRow, *dbus.Error) {
	rows := make([]unitRow, 0, len(m.units))
	for _, u := range m.units {
		rows = append(rows, unitRow{
			Name: u.Name, Description: u.Description, LoadState: u.LoadState,
			ActiveState: u.ActiveState, SubState: u.SubState,
			Path: unitObjectPath(u.Name), JobPath: "/",
		})
	}
	return rows, nil
}

func unitObjectPath(name string) dbus.ObjectPath {
	return dbus.ObjectPath("/org/freedesktop/systemd1/unit/" + sdbus.PathBusEscape(name))
}

// serveFakeSystemd connects to the bus at addr and serves the fake systemd
// there until the connection is closed.
func serveFakeSystemd(addr, version, state string) (*dbus.Conn, error) {
	conn, err := dialBus(context.Background(), addr, true)
	if err != nil {
		return nil, fmt.Errorf("connect the fake systemd to %s: %w", addr, err)
	}
	const root = dbus.ObjectPath("/org/freedesktop/systemd1")
	if err := conn.Export(fakeManager{units: fakeUnits}, root, "org.freedesktop.systemd1.Manager"); err != nil {
		return nil, err
	}
	if _, err := prop.Export(conn, root, prop.Map{"org.freedesktop.systemd1.Manager": {
		"Version":     {Value: version, Emit: prop.EmitConst},
		"SystemState": {Value: state, Emit: prop.EmitConst},
	}}); err != nil {
		return nil, err
	}
	for _, u := range fakeUnits {
		m := prop.Map{}
		for iface, props := range u.props {
			m["org.freedesktop.systemd1."+iface] = map[string]*prop.Prop{}
			for name, v := range props {
				m["org.freedesktop.systemd1."+iface][name] = &prop.Prop{Value: v, Emit: prop.EmitConst}
			}
		}
		if _, err := prop.Export(conn, unitObjectPath(u.Name), m); err != nil {
			return nil, err
		}
	}
	reply, err := conn.RequestName("org.freedesktop.systemd1", dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		return nil, fmt.Errorf("own org.freedesktop.systemd1: reply %v, %w", reply, err)
	}
	return conn, nil
}

// privateBus is a dbus-daemon of our own, listening on a socket in dir.
type privateBus struct {
	addr string
	cmd  *exec.Cmd
}

// startPrivateBus runs dbus-daemon with a configuration that lets anyone
// own any name, and returns once it prints its address.
func startPrivateBus(dir string) (*privateBus, error) {
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		return nil, fmt.Errorf("dbus-daemon (Debian package dbus-daemon): %w", err)
	}
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path=`+filepath.Join(dir, "bus")+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(daemon, "--config-file="+conf, "--nofork", "--print-address")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dbus-daemon: %w", err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("dbus-daemon printed no address: %w", err)
	}
	return &privateBus{addr: strings.TrimSpace(line), cmd: cmd}, nil
}

func (b *privateBus) stop() {
	_ = b.cmd.Process.Kill() // by pid: the daemon this test started
	_ = b.cmd.Wait()
}

// fakeSystemd is the bus and fake systemd shared by the package's tests,
// started on first use.
var fakeSystemd struct {
	once sync.Once
	bus  *privateBus
	conn *dbus.Conn
	err  error
}

// fixtureSystemdRoot is testdata/systemd/root, the fixture root that the
// golden test gives the systemd collector: its bus is the fake one.
var fixtureSystemdRoot, _ = filepath.Abs(filepath.Join("testdata", "systemd", "root"))

func TestMain(m *testing.M) {
	if root := os.Getenv(raplChildEnv); root != "" {
		if err := raplNonRootChild(root); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(raplChildOK)
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "panoptes-systemd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	realAddress := systemBusAddress
	systemBusAddress = func(cfg Config) string {
		if abs, _ := filepath.Abs(cfg.RootFS); abs != fixtureSystemdRoot {
			// Other fixture roots (TestMissingSources' empty ones) have no bus.
			return "unix:path=" + cfg.rootfsPath("run", "dbus", "system_bus_socket")
		}
		fakeSystemd.once.Do(func() {
			fakeSystemd.bus, fakeSystemd.err = startPrivateBus(dir)
			if fakeSystemd.err == nil {
				fakeSystemd.conn, fakeSystemd.err = serveFakeSystemd(fakeSystemd.bus.addr, "252.31-1~deb12u1", "degraded")
			}
		})
		if fakeSystemd.err != nil {
			fmt.Fprintln(os.Stderr, "systemd fixture:", fakeSystemd.err)
			return "unix:path=/nonexistent/no-dbus-daemon"
		}
		return fakeSystemd.bus.addr
	}
	code := m.Run()
	systemBusAddress = realAddress
	if fakeSystemd.conn != nil {
		_ = fakeSystemd.conn.Close()
	}
	if fakeSystemd.bus != nil {
		fakeSystemd.bus.stop()
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// requireFakeSystemd returns the fake systemd's bus address, or skips
// (fails under CI) when dbus-daemon is not installed.
func requireFakeSystemd(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		testkit.Missing(t, "dbus-daemon", "apt-get install dbus-daemon")
	}
	cfg := DefaultConfig()
	cfg.RootFS = fixtureSystemdRoot
	addr := systemBusAddress(cfg)
	if fakeSystemd.err != nil {
		t.Fatalf("start the fake systemd: %v", fakeSystemd.err)
	}
	return addr
}

// TestSystemdMatchesNodeExporter runs node_exporter 1.5's systemd collector
// and ours against the same fake systemd, with every per-unit option on, and
// compares the node_systemd_* families: names, types, HELP, labels, values.
func TestSystemdMatchesNodeExporter(t *testing.T) {
	addr := requireFakeSystemd(t)
	ne := testkit.Peer(t, "prometheus-node-exporter")

	for _, tc := range []struct {
		name  string
		flags []string
		cfg   func(*SystemdConfig)
	}{
		// Debian patches node_exporter's default unit-exclude to add
		// "target"; upstream 1.5's default, ours, is given explicitly.
		{"defaults", []string{"--collector.systemd.unit-exclude=" + DefaultSystemdUnitExclude}, func(*SystemdConfig) {}},
		{"all options", []string{
			"--collector.systemd.enable-task-metrics", "--collector.systemd.enable-restarts-metrics",
			"--collector.systemd.enable-start-time-metrics",
			`--collector.systemd.unit-include=.+\.(service|socket|timer|mount)`, `--collector.systemd.unit-exclude=rescue\..*`,
		}, func(c *SystemdConfig) {
			c.EnableTaskMetrics, c.EnableRestartsMetrics, c.EnableStartTimeMetrics = true, true, true
			c.UnitInclude, c.UnitExclude = `.+\.(service|socket|timer|mount)`, `rescue\..*`
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			listen := testkit.FreePort(t)
			cmd := exec.Command(ne, append([]string{"--web.listen-address=" + listen,
				"--collector.disable-defaults", "--collector.systemd"}, tc.flags...)...)
			cmd.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+addr)
			testkit.StartCmd(t, cmd)
			want := systemdFamilies(t, scrapeNodeExporter(t, "http://"+listen+"/metrics"))

			cfg := DefaultConfig()
			cfg.RootFS = fixtureSystemdRoot
			tc.cfg(&cfg.Systemd)
			out, err := render(t, "systemd", cfg)
			if err != nil {
				t.Fatalf("update: %v", err)
			}
			got := systemdFamilies(t, out)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("node_systemd_* differ from node_exporter's (-node_exporter +panoptes):\n%s", diff)
			}
			if !strings.Contains(got, `node_systemd_unit_state{name="nginx.service",state="failed",type="forking"} 1`) {
				t.Errorf("the failed nginx unit is not reported as failed:\n%s", got)
			}
		})
	}
}

// scrapeNodeExporter fetches url once it answers.
func scrapeNodeExporter(t *testing.T, url string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.CommandContext(t.Context(), "curl", "-sf", url).Output()
		if err == nil {
			return string(out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// systemdFamilies keeps the node_systemd_* families of an exposition,
// re-encoded so that ordering and formatting do not matter.
func systemdFamilies(t *testing.T, text string) string {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	var b strings.Builder
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, name := range sortedFamilyNames(mfs) {
		if strings.HasPrefix(name, "node_systemd_") {
			if err := enc.Encode(mfs[name]); err != nil {
				t.Fatal(err)
			}
		}
	}
	return b.String()
}

func sortedFamilyNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// TestSystemdNoBus: with no bus and no systemd socket the collector fails
// with one error naming the address, and sends nothing.
func TestSystemdNoBus(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RootFS = t.TempDir()
	c, err := newSystemd(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Update(t.Context(), &collector.Sink{})
	if err == nil || !strings.Contains(err.Error(), "system_bus_socket") {
		t.Errorf("err = %v, want a connection error naming the socket", err)
	}
}

func TestSystemdBadPattern(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Systemd.UnitInclude = "("
	if _, err := newSystemd(cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Error("an invalid --collector.systemd.unit-include was accepted")
	}
}
