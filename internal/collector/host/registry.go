package host

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/procfs"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// Config is what host collectors need to know. The zero value is not useful:
// start from DefaultConfig.
type Config struct {
	// ProcRoot, SysRoot and RootFS are where the host's /proc, /sys and / are
	// mounted; in a container they are the host mounts (/host/proc, ...).
	ProcRoot string
	SysRoot  string
	RootFS   string

	// PowerSupplyClass and Rapl are the hardware collectors' options.
	PowerSupplyClass PowerSupplyClassConfig
	Rapl             RaplConfig

	Filesystem FilesystemConfig
	Diskstats  DiskstatsConfig
	Netdev     NetdevConfig
	Netstat    NetstatConfig
	Vmstat     VmstatConfig
	Tapestats  TapestatsConfig
	Systemd    SystemdConfig
	Textfile   TextfileConfig
	Bcache     BcacheConfig
	Arp        ArpConfig
	IPVS       IPVSConfig
	Netclass   NetclassConfig
	Ethtool    EthtoolConfig

	// System answers what does not come from files (uname, statfs, the
	// clock); nil means the real kernel.
	System System
}

// DefaultConfig returns node_exporter's defaults.
func DefaultConfig() Config {
	return Config{
		ProcRoot: "/proc",
		SysRoot:  "/sys",
		RootFS:   "/",

		PowerSupplyClass: PowerSupplyClassConfig{IgnoredSupplies: DefaultPowerSupplyIgnored},
		Filesystem: FilesystemConfig{
			MountPointsExclude: DefaultMountPointsExclude,
			FSTypesExclude:     DefaultFSTypesExclude,
			MountTimeout:       5 * time.Second,
		},
		Diskstats: DiskstatsConfig{DeviceExclude: DefaultDiskstatsDeviceExclude},
		Netdev:    NetdevConfig{DeviceExclude: DefaultNetdevDeviceExclude},
		Netstat:   NetstatConfig{Fields: DefaultNetstatFields},
		Vmstat:    VmstatConfig{Fields: DefaultVmstatFields},
		Tapestats: TapestatsConfig{IgnoredDevices: DefaultTapestatsIgnoredDevices},
		Systemd:   SystemdConfig{UnitInclude: DefaultSystemdUnitInclude, UnitExclude: DefaultSystemdUnitExclude},
		Textfile:  TextfileConfig{MaxFileBytes: DefaultTextfileMaxFileBytes},
		Arp:       ArpConfig{},
		IPVS:      IPVSConfig{BackendLabels: DefaultIPVSBackendLabels},
		Netclass:  NetclassConfig{IgnoredDevices: DefaultNetclassIgnoredDevices},
		Ethtool:   EthtoolConfig{MetricsInclude: DefaultEthtoolMetricsInclude},
	}
}

func (c Config) system() System {
	if c.System == nil {
		return realSystem{}
	}
	return c.System
}

// procPath joins elements under the proc root.
func (c Config) procPath(elem ...string) string {
	return filepath.Join(append([]string{c.ProcRoot}, elem...)...)
}

// sysPath joins elements under the sys root.
func (c Config) sysPath(elem ...string) string {
	return filepath.Join(append([]string{c.SysRoot}, elem...)...)
}

// rootfsPath joins elements under the root file system.
func (c Config) rootfsPath(elem ...string) string {
	return filepath.Join(append([]string{c.RootFS}, elem...)...)
}

// Factory builds a collector from the configuration. It fails only on bad
// configuration (an invalid pattern), never because a file is missing: that
// is a scrape-time error of that collector alone.
type Factory func(cfg Config, logger *slog.Logger) (collector.Collector, error)

// Info describes a registered collector.
type Info struct {
	Name           string
	DefaultEnabled bool
	factory        Factory
}

var registry = map[string]Info{}

// register is called from each collector file's init.
func register(name string, defaultEnabled bool, f Factory) {
	if _, dup := registry[name]; dup {
		panic("BUG: host collector registered twice: " + name)
	}
	registry[name] = Info{Name: name, DefaultEnabled: defaultEnabled, factory: f}
}

// Collectors returns every registered host collector, sorted by name.
func Collectors() []Info {
	out := make([]Info, 0, len(registry))
	for _, info := range registry {
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// New builds the named collectors.
func New(names []string, cfg Config, logger *slog.Logger) ([]collector.Named, error) {
	out := make([]collector.Named, 0, len(names))
	for _, name := range names {
		info, ok := registry[name]
		if !ok {
			return nil, fmt.Errorf("unknown host collector %q", name)
		}
		c, err := info.factory(cfg, logger.With("collector", name))
		if err != nil {
			return nil, fmt.Errorf("collector %s: %w", name, err)
		}
		out = append(out, collector.Named{Name: name, Collector: c})
	}
	return out, nil
}

// procFSCache memoises procfs.NewFS per root: it stats and statfs's the root
// on every call, two system calls per collector per scrape for a value that
// does not change once the root exists.
var procFSCache sync.Map // root path -> procfs.FS

// procFS opens the proc root. A failure is not cached, so that a root that
// appears later (a host mount) is picked up and a missing one fails only the
// collectors that need it, at scrape time.
func (c Config) procFS() (procfs.FS, error) {
	if fs, ok := procFSCache.Load(c.ProcRoot); ok {
		return fs.(procfs.FS), nil
	}
	fs, err := procfs.NewFS(c.ProcRoot)
	if err != nil {
		return procfs.FS{}, fmt.Errorf("open procfs: %w", err)
	}
	procFSCache.Store(c.ProcRoot, fs)
	return fs, nil
}
