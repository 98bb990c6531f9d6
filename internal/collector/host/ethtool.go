package host

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs/sysfs"
	"golang.org/x/sys/unix"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// EthtoolConfig selects the devices and driver statistics the ethtool
// collector reports.
type EthtoolConfig struct {
	DeviceInclude  string // regexp; when set only matching devices are kept
	DeviceExclude  string // regexp of devices to drop
	MetricsInclude string // regexp of driver statistic names (rx_bytes, ...) to report
}

// DefaultEthtoolMetricsInclude is node_exporter's default: every statistic.
const DefaultEthtoolMetricsInclude = ".*"

func init() { register("ethtool", false, newEthtool) }

// ethtoolLink is the part of ETHTOOL_GSET's answer that is reported.
type ethtoolLink struct {
	Supported   uint32 `json:"supported"`   // ETHTOOL_LINK_MODE_* bits
	Advertising uint32 `json:"advertising"` // ETHTOOL_LINK_MODE_* bits
	Autoneg     uint8  `json:"autoneg"`
}

// ethtoolDriver is the part of ETHTOOL_GDRVINFO's answer that is reported.
type ethtoolDriver struct {
	Driver, Version, FirmwareVersion, BusInfo, EromVersion string
}

// ethtoolSource answers the three ethtool requests for one device. The real
// one uses the SIOCETHTOOL ioctl; a Config.System implementing it (a test
// fixture) replaces the kernel.
type ethtoolSource interface {
	EthtoolLink(dev string) (ethtoolLink, error)
	EthtoolDriver(dev string) (ethtoolDriver, error)
	EthtoolStats(dev string) (map[string]uint64, error)
}

// ethtoolCollector reports link modes, driver identity and the driver's own
// statistics of every network device, as node_exporter 1.5's (opt-in).
type ethtoolCollector struct {
	cfg     Config
	logger  *slog.Logger
	devices *collector.Filter
	metrics *regexp.Regexp
	info    collector.TypedDesc
	fixed   map[string]collector.TypedDesc // link-mode families and the seven well-known statistics
	dynamic collector.DescCache            // the other statistics, named after the driver's strings
}

func newEthtool(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	devices, err := collector.NewFilter(cfg.Ethtool.DeviceInclude, cfg.Ethtool.DeviceExclude)
	if err != nil {
		return nil, fmt.Errorf("ethtool device filter: %w", err)
	}
	metrics, err := regexp.Compile(cfg.Ethtool.MetricsInclude)
	if err != nil {
		return nil, fmt.Errorf("ethtool metrics-include: %w", err)
	}
	g, u := prometheus.GaugeValue, prometheus.UntypedValue
	d := func(sub, name, help string, t prometheus.ValueType, labels ...string) collector.TypedDesc {
		return collector.NewTypedDesc(sub, name, help, t, append([]string{"device"}, labels...)...)
	}
	return &ethtoolCollector{
		cfg:     cfg,
		logger:  logger,
		devices: devices,
		metrics: metrics,
		info: collector.NewTypedDesc("ethtool", "info", "A metric with a constant '1' value labeled by bus_info, device, driver, expansion_rom_version, firmware_version, version.", g,
			"bus_info", "device", "driver", "expansion_rom_version", "firmware_version", "version"),
		fixed: map[string]collector.TypedDesc{
			// node_exporter 1.5 reports these statistics under fixed names
			// and HELP, and (like every statistic) untyped.
			"rx_bytes":   d("ethtool", "received_bytes_total", "Network interface bytes received", u),
			"rx_dropped": d("ethtool", "received_dropped_total", "Number of received frames dropped", u),
			"rx_errors":  d("ethtool", "received_errors_total", "Number of received frames with errors", u),
			"rx_packets": d("ethtool", "received_packets_total", "Network interface packets received", u),
			"tx_bytes":   d("ethtool", "transmitted_bytes_total", "Network interface bytes sent", u),
			"tx_errors":  d("ethtool", "transmitted_errors_total", "Number of sent frames with errors", u),
			"tx_packets": d("ethtool", "transmitted_packets_total", "Network interface packets sent", u),

			"supported_port":             d("network", "supported_port_info", "Type of ports or PHYs supported by network device", g, "type"),
			"supported_speed":            d("network", "supported_speed_bytes", "Combination of speeds and features supported by network device", g, "duplex", "mode"),
			"supported_autonegotiate":    d("network", "autonegotiate_supported", "If this port device supports autonegotiate", g),
			"supported_pause":            d("network", "pause_supported", "If this port device supports pause frames", g),
			"supported_asymmetricpause":  d("network", "asymmetricpause_supported", "If this port device supports asymmetric pause frames", g),
			"advertised_speed":           d("network", "advertised_speed_bytes", "Combination of speeds and features offered by network device", g, "duplex", "mode"),
			"advertised_autonegotiate":   d("network", "autonegotiate_advertised", "If this port device offers autonegotiate", g),
			"advertised_pause":           d("network", "pause_advertised", "If this port device offers pause capability", g),
			"advertised_asymmetricpause": d("network", "asymmetricpause_advertised", "If this port device offers asymmetric pause capability", g),
			"autonegotiate":              d("network", "autonegotiate", "If this port is using autonegotiate", g),
		},
	}, nil
}

// ethtoolSpeeds are the link modes node_exporter 1.5 reports as speeds.
var ethtoolSpeeds = []struct {
	bit    int
	speed  int // Mbit/s
	duplex string
	phy    string
}{
	{unix.ETHTOOL_LINK_MODE_10baseT_Half_BIT, 10, "half", "T"},
	{unix.ETHTOOL_LINK_MODE_10baseT_Full_BIT, 10, "full", "T"},
	{unix.ETHTOOL_LINK_MODE_100baseT_Half_BIT, 100, "half", "T"},
	{unix.ETHTOOL_LINK_MODE_100baseT_Full_BIT, 100, "full", "T"},
	{unix.ETHTOOL_LINK_MODE_1000baseT_Half_BIT, 1000, "half", "T"},
	{unix.ETHTOOL_LINK_MODE_1000baseT_Full_BIT, 1000, "full", "T"},
	{unix.ETHTOOL_LINK_MODE_10000baseT_Full_BIT, 10000, "full", "T"},
	{unix.ETHTOOL_LINK_MODE_2500baseT_Full_BIT, 2500, "full", "T"},
	{unix.ETHTOOL_LINK_MODE_1000baseKX_Full_BIT, 1000, "full", "KX"},
	{unix.ETHTOOL_LINK_MODE_10000baseKX4_Full_BIT, 10000, "full", "KX4"},
	{unix.ETHTOOL_LINK_MODE_10000baseKR_Full_BIT, 10000, "full", "KR"},
	{unix.ETHTOOL_LINK_MODE_10000baseR_FEC_BIT, 10000, "full", "R_FEC"},
	{unix.ETHTOOL_LINK_MODE_20000baseMLD2_Full_BIT, 20000, "full", "MLD2"},
	{unix.ETHTOOL_LINK_MODE_20000baseKR2_Full_BIT, 20000, "full", "KR2"},
	{unix.ETHTOOL_LINK_MODE_40000baseKR4_Full_BIT, 40000, "full", "KR4"},
	{unix.ETHTOOL_LINK_MODE_40000baseCR4_Full_BIT, 40000, "full", "CR4"},
	{unix.ETHTOOL_LINK_MODE_40000baseSR4_Full_BIT, 40000, "full", "SR4"},
	{unix.ETHTOOL_LINK_MODE_40000baseLR4_Full_BIT, 40000, "full", "LR4"},
	{unix.ETHTOOL_LINK_MODE_56000baseKR4_Full_BIT, 56000, "full", "KR4"},
	{unix.ETHTOOL_LINK_MODE_56000baseCR4_Full_BIT, 56000, "full", "CR4"},
	{unix.ETHTOOL_LINK_MODE_56000baseSR4_Full_BIT, 56000, "full", "SR4"},
	{unix.ETHTOOL_LINK_MODE_56000baseLR4_Full_BIT, 56000, "full", "LR4"},
	{unix.ETHTOOL_LINK_MODE_25000baseCR_Full_BIT, 25000, "full", "CR"},
}

// ethtoolPorts are the port types of supported_port_info.
var ethtoolPorts = []struct {
	name string
	bit  int
}{
	{"TP", unix.ETHTOOL_LINK_MODE_TP_BIT}, {"AUI", unix.ETHTOOL_LINK_MODE_AUI_BIT}, {"MII", unix.ETHTOOL_LINK_MODE_MII_BIT},
	{"FIBRE", unix.ETHTOOL_LINK_MODE_FIBRE_BIT}, {"BNC", unix.ETHTOOL_LINK_MODE_BNC_BIT}, {"Backplane", unix.ETHTOOL_LINK_MODE_Backplane_BIT},
}

// Update asks every device not filtered out. A device or request the driver
// does not support (EOPNOTSUPP: lo, most virtual devices) is skipped with a
// debug line; another error of one device is logged and that part skipped,
// as in node_exporter, so one odd NIC does not hide the others.
func (c *ethtoolCollector) Update(_ context.Context, ch *collector.Sink) error {
	sfs, err := sysfs.NewFS(c.cfg.SysRoot)
	if err != nil {
		return fmt.Errorf("open sysfs: %w", err)
	}
	devices, err := sfs.NetClassDevices()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("list network devices: %w: %w", collector.ErrNoData, err)
		}
		return fmt.Errorf("list network devices: %w", err)
	}
	if len(devices) == 0 {
		return fmt.Errorf("no network devices in %s", c.cfg.sysPath("class", "net"))
	}
	var src ethtoolSource
	if s, ok := c.cfg.System.(ethtoolSource); ok {
		src = s
	} else {
		ioc, err := newEthtoolIoctl()
		if err != nil {
			return err
		}
		defer ioc.close()
		src = ioc
	}
	for _, dev := range devices {
		if c.devices.Ignored(dev) {
			continue
		}
		if link, err := src.EthtoolLink(dev); err == nil {
			c.sendLink(ch, dev, link)
		} else {
			c.logErr("ethtool link info error", dev, err)
		}
		if drv, err := src.EthtoolDriver(dev); err == nil {
			ch.Send(c.info.Metric(1, drv.BusInfo, dev, drv.Driver, drv.EromVersion, drv.FirmwareVersion, drv.Version))
		} else {
			c.logErr("ethtool driver info error", dev, err)
		}
		stats, err := src.EthtoolStats(dev)
		if err != nil {
			c.logErr("ethtool stats error", dev, err)
			continue
		}
		c.sendStats(ch, dev, stats)
	}
	return nil
}

func (c *ethtoolCollector) logErr(msg, dev string, err error) {
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENODEV) {
		c.logger.Debug(msg, "device", dev, "err", err)
		return
	}
	c.logger.Warn(msg, "device", dev, "err", err)
}

func (c *ethtoolCollector) sendLink(ch *collector.Sink, dev string, l ethtoolLink) {
	for _, p := range []struct {
		prefix string
		modes  uint32
	}{{"supported", l.Supported}, {"advertised", l.Advertising}} {
		for _, s := range ethtoolSpeeds {
			if p.modes&(1<<s.bit) != 0 {
				ch.Send(c.fixed[p.prefix+"_speed"].Metric(float64(s.speed)*1e6/8, dev, s.duplex, fmt.Sprintf("%dbase%s", s.speed, s.phy)))
			}
		}
		if p.prefix == "supported" {
			for _, port := range ethtoolPorts {
				if p.modes&(1<<port.bit) != 0 {
					ch.Send(c.fixed["supported_port"].Metric(1, dev, port.name))
				}
			}
		}
		bit := func(b int) float64 {
			if p.modes&(1<<b) != 0 {
				return 1
			}
			return 0
		}
		ch.Send(c.fixed[p.prefix+"_autonegotiate"].Metric(bit(unix.ETHTOOL_LINK_MODE_Autoneg_BIT), dev))
		ch.Send(c.fixed[p.prefix+"_pause"].Metric(bit(unix.ETHTOOL_LINK_MODE_Pause_BIT), dev))
		ch.Send(c.fixed[p.prefix+"_asymmetricpause"].Metric(bit(unix.ETHTOOL_LINK_MODE_Asym_Pause_BIT), dev))
	}
	ch.Send(c.fixed["autonegotiate"].Metric(float64(l.Autoneg), dev))
}

// sendStats reports the statistics whose names pass metrics-include. Two
// names that map to one metric name (rx-errors and rx_errors) are both
// dropped, as node_exporter does, rather than reporting one at random.
func (c *ethtoolCollector) sendStats(ch *collector.Sink, dev string, stats map[string]uint64) {
	byName := map[string]string{}
	for stat := range stats {
		if !c.metrics.MatchString(stat) {
			continue
		}
		name := ethtoolMetricName(stat)
		if prev, dup := byName[name]; dup {
			c.logger.Debug("dropping duplicate ethtool metric name", "device", dev, "metric", name, "stat1", prev, "stat2", stat)
			byName[name] = ""
			continue
		}
		byName[name] = stat
	}
	names := make([]string, 0, len(byName))
	for name := range byName {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		stat := byName[name]
		if stat == "" {
			continue
		}
		d, ok := c.fixed[stat]
		if !ok || !strings.HasPrefix(stat, "rx_") && !strings.HasPrefix(stat, "tx_") {
			d = c.dynamic.Get(name, "Network interface "+stat, prometheus.UntypedValue, "device")
		}
		ch.Send(d.Metric(float64(stats[stat]), dev))
	}
}

var (
	ethtoolBadChars = regexp.MustCompile(`_*[^0-9A-Za-z_]+_*`)
	ethtoolRx       = regexp.MustCompile(`(^|_)rx(_|$)`)
	ethtoolTx       = regexp.MustCompile(`(^|_)tx(_|$)`)
)

// ethtoolMetricName turns a driver's statistic name into node_exporter 1.5's
// metric name: invalid characters to "_", lower case, rx/tx spelt out as
// received/transmitted where they are whole words.
func ethtoolMetricName(stat string) string {
	name := strings.TrimLeft(strings.ToLower(ethtoolBadChars.ReplaceAllString(stat, "_")), "_")
	name = ethtoolRx.ReplaceAllString(name, "${1}received${2}")
	name = ethtoolTx.ReplaceAllString(name, "${1}transmitted${2}")
	return prometheus.BuildFQName(collector.Namespace, "ethtool", name)
}

// ethtoolIoctl asks the kernel over SIOCETHTOOL on a datagram socket.
type ethtoolIoctl struct{ fd int }

func newEthtoolIoctl() (*ethtoolIoctl, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("ethtool socket: %w", err)
	}
	return &ethtoolIoctl{fd: fd}, nil
}

func (e *ethtoolIoctl) close() { unix.Close(e.fd) }

// ifreqData is struct ifreq with ifr_data set.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

// ioctl sends one ethtool command; buf starts with the command number and is
// filled in by the kernel.
func (e *ethtoolIoctl) ioctl(dev string, buf []byte) error {
	if len(dev) >= unix.IFNAMSIZ {
		return fmt.Errorf("device name %q too long: %w", dev, unix.EINVAL)
	}
	ifr := ifreqData{data: unsafe.Pointer(&buf[0])}
	copy(ifr.name[:], dev)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(e.fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(buf)
	if errno != 0 {
		return errno
	}
	return nil
}

const (
	ethtoolGSET     = 0x1 // legacy link settings, what node_exporter 1.5 asks
	ethtoolGStrings = 0x1b
	ethtoolGStats   = 0x1d
	ethStringLen    = 32
	ethSSStats      = 1
	maxEthtoolStats = 1 << 14 // a bound on the buffers a driver can make us allocate
)

func (e *ethtoolIoctl) EthtoolLink(dev string) (ethtoolLink, error) {
	buf := make([]byte, 44) // struct ethtool_cmd
	binary.NativeEndian.PutUint32(buf, ethtoolGSET)
	if err := e.ioctl(dev, buf); err != nil {
		return ethtoolLink{}, err
	}
	ne := binary.NativeEndian
	return ethtoolLink{Supported: ne.Uint32(buf[4:]), Advertising: ne.Uint32(buf[8:]), Autoneg: buf[18]}, nil
}

func (e *ethtoolIoctl) drvinfo(dev string) (*unix.EthtoolDrvinfo, error) {
	return unix.IoctlGetEthtoolDrvinfo(e.fd, dev)
}

func (e *ethtoolIoctl) EthtoolDriver(dev string) (ethtoolDriver, error) {
	d, err := e.drvinfo(dev)
	if err != nil {
		return ethtoolDriver{}, err
	}
	return ethtoolDriver{Driver: cString(d.Driver[:]), Version: cString(d.Version[:]), FirmwareVersion: cString(d.Fw_version[:]),
		BusInfo: cString(d.Bus_info[:]), EromVersion: cString(d.Erom_version[:])}, nil
}

// EthtoolStats reads the statistic names (ETHTOOL_GSTRINGS) and values
// (ETHTOOL_GSTATS); their number comes from ETHTOOL_GDRVINFO.
func (e *ethtoolIoctl) EthtoolStats(dev string) (map[string]uint64, error) {
	d, err := e.drvinfo(dev)
	if err != nil {
		return nil, err
	}
	n := int(d.N_stats)
	if n == 0 {
		return nil, nil
	}
	if n > maxEthtoolStats {
		return nil, fmt.Errorf("%d statistics, more than %d", n, maxEthtoolStats)
	}
	ne := binary.NativeEndian
	strs := make([]byte, 12+n*ethStringLen)
	ne.PutUint32(strs[0:], ethtoolGStrings)
	ne.PutUint32(strs[4:], ethSSStats)
	ne.PutUint32(strs[8:], uint32(n))
	if err := e.ioctl(dev, strs); err != nil {
		return nil, err
	}
	vals := make([]byte, 8+n*8)
	ne.PutUint32(vals[0:], ethtoolGStats)
	ne.PutUint32(vals[4:], uint32(n))
	if err := e.ioctl(dev, vals); err != nil {
		return nil, err
	}
	// The kernel says how many it wrote; a driver whose count changed
	// between the calls gives the smaller set.
	if got := int(ne.Uint32(strs[8:])); got < n {
		n = got
	}
	if got := int(ne.Uint32(vals[4:])); got < n {
		n = got
	}
	out := make(map[string]uint64, n)
	for i := 0; i < n; i++ {
		name := cString(strs[12+i*ethStringLen : 12+(i+1)*ethStringLen])
		out[name] = ne.Uint64(vals[8+i*8:])
	}
	return out, nil
}

// cString returns the NUL-terminated string at the start of b.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
