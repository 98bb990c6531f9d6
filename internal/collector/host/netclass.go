package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs/sysfs"
	"golang.org/x/sys/unix"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// DefaultNetclassIgnoredDevices is node_exporter's default: no device is
// ignored.
const DefaultNetclassIgnoredDevices = `^$`

// NetclassConfig configures the netclass collector.
type NetclassConfig struct {
	IgnoredDevices string // regexp of devices left out
	// IgnoreInvalidSpeed leaves out node_network_speed_bytes of a device
	// whose speed file reads -1 (a virtual NIC, a link that is down), which
	// node_exporter 1.5 otherwise reports as -125000.
	IgnoreInvalidSpeed bool
}

func init() { register("netclass", true, newNetclass) }

// netclassField is one numeric attribute of /sys/class/net/<iface>.
type netclassField struct {
	desc collector.TypedDesc
	get  func(*sysfs.NetClassIface) *int64
}

// netclassCollector reports the attributes of every network interface from
// sysfs, as node_exporter 1.5 does by default (its netlink variant is opt-in
// there and not implemented here).
type netclassCollector struct {
	cfg     Config
	logger  *slog.Logger
	ignored *regexp.Regexp
	up      collector.TypedDesc
	info    collector.TypedDesc
	speed   collector.TypedDesc
	fields  []netclassField
}

func newNetclass(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	ignored, err := regexp.Compile(cfg.Netclass.IgnoredDevices)
	if err != nil {
		return nil, fmt.Errorf("netclass ignored devices: %w", err)
	}
	g := prometheus.GaugeValue
	prop := func(name string, t prometheus.ValueType) collector.TypedDesc {
		return collector.NewTypedDesc("network", name, "Network device property: "+name, t, "device")
	}
	c := &netclassCollector{
		cfg:     cfg,
		logger:  logger,
		ignored: ignored,
		up:      collector.NewTypedDesc("network", "up", "Value is 1 if operstate is 'up', 0 otherwise.", g, "device"),
		info: collector.NewTypedDesc("network", "info", "Non-numeric data from /sys/class/net/<iface>, value is always 1.", g,
			"device", "address", "broadcast", "duplex", "operstate", "ifalias"),
		speed: prop("speed_bytes", g),
	}
	type n = sysfs.NetClassIface
	for _, f := range []struct {
		name string
		t    prometheus.ValueType
		get  func(*n) *int64
	}{
		{"address_assign_type", g, func(i *n) *int64 { return i.AddrAssignType }},
		{"carrier", g, func(i *n) *int64 { return i.Carrier }},
		{"carrier_changes_total", prometheus.CounterValue, func(i *n) *int64 { return i.CarrierChanges }},
		{"carrier_up_changes_total", prometheus.CounterValue, func(i *n) *int64 { return i.CarrierUpCount }},
		{"carrier_down_changes_total", prometheus.CounterValue, func(i *n) *int64 { return i.CarrierDownCount }},
		{"device_id", g, func(i *n) *int64 { return i.DevID }},
		{"dormant", g, func(i *n) *int64 { return i.Dormant }},
		{"flags", g, func(i *n) *int64 { return i.Flags }},
		{"iface_id", g, func(i *n) *int64 { return i.IfIndex }},
		{"iface_link", g, func(i *n) *int64 { return i.IfLink }},
		{"iface_link_mode", g, func(i *n) *int64 { return i.LinkMode }},
		{"mtu_bytes", g, func(i *n) *int64 { return i.MTU }},
		{"name_assign_type", g, func(i *n) *int64 { return i.NameAssignType }},
		{"net_dev_group", g, func(i *n) *int64 { return i.NetDevGroup }},
		{"transmit_queue_length", g, func(i *n) *int64 { return i.TxQueueLen }},
		{"protocol_type", g, func(i *n) *int64 { return i.Type }},
	} {
		c.fields = append(c.fields, netclassField{desc: prop(f.name, f.t), get: f.get})
	}
	return c, nil
}

// Update reports every interface not ignored. An attribute the driver does
// not support (EINVAL, EOPNOTSUPP: carrier of a device that is down, speed
// of a virtual one) is left out, as in node_exporter; any other read error
// (EIO) fails the collector. An interface that disappears between the listing
// and its read (a veth of a pod that just stopped) is skipped with a debug
// line, where node_exporter 1.5 drops the whole collector for that scrape.
func (c *netclassCollector) Update(_ context.Context, ch *collector.Sink) error {
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
	dir := filepath.Join(c.cfg.SysRoot, "class", "net")
	var buf [netclassBufSize]byte
	for _, dev := range devices {
		if c.ignored.MatchString(dev) {
			continue
		}
		iface, err := readNetclassIface(dir, dev, buf[:])
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				c.logger.Debug("network device vanished while it was read", "device", dev, "err", err)
				continue
			}
			return fmt.Errorf("read network device %s: %w", dev, err)
		}
		c.send(ch, iface)
	}
	return nil
}

// netclassBufSize is the most read of one attribute, as procfs' reader
// (ifalias, the longest, holds at most 255 bytes).
const netclassBufSize = 256

// netclassAttrs are the attribute files of an interface the collector
// exports, and where each goes. procfs' parser reads every regular file
// of the directory (twelve more on a virtio NIC, among them uevent and
// phys_port_name, which call into the driver) through os.Open; this reads
// only these, relative to the directory, with three system calls each.
// On the development machine netclass was the most costly collector: 5.1
// of the 8.9 ms that one run of every default collector takes.
var netclassAttrs = []struct {
	name string
	set  func(i *sysfs.NetClassIface, v string)
}{
	{"addr_assign_type", func(i *sysfs.NetClassIface, v string) { i.AddrAssignType = netclassInt(v) }},
	{"address", func(i *sysfs.NetClassIface, v string) { i.Address = v }},
	{"broadcast", func(i *sysfs.NetClassIface, v string) { i.Broadcast = v }},
	{"carrier", func(i *sysfs.NetClassIface, v string) { i.Carrier = netclassInt(v) }},
	{"carrier_changes", func(i *sysfs.NetClassIface, v string) { i.CarrierChanges = netclassInt(v) }},
	{"carrier_down_count", func(i *sysfs.NetClassIface, v string) { i.CarrierDownCount = netclassInt(v) }},
	{"carrier_up_count", func(i *sysfs.NetClassIface, v string) { i.CarrierUpCount = netclassInt(v) }},
	{"dev_id", func(i *sysfs.NetClassIface, v string) { i.DevID = netclassInt(v) }},
	{"dormant", func(i *sysfs.NetClassIface, v string) { i.Dormant = netclassInt(v) }},
	{"duplex", func(i *sysfs.NetClassIface, v string) { i.Duplex = v }},
	{"flags", func(i *sysfs.NetClassIface, v string) { i.Flags = netclassInt(v) }},
	{"ifalias", func(i *sysfs.NetClassIface, v string) { i.IfAlias = v }},
	{"ifindex", func(i *sysfs.NetClassIface, v string) { i.IfIndex = netclassInt(v) }},
	{"iflink", func(i *sysfs.NetClassIface, v string) { i.IfLink = netclassInt(v) }},
	{"link_mode", func(i *sysfs.NetClassIface, v string) { i.LinkMode = netclassInt(v) }},
	{"mtu", func(i *sysfs.NetClassIface, v string) { i.MTU = netclassInt(v) }},
	{"name_assign_type", func(i *sysfs.NetClassIface, v string) { i.NameAssignType = netclassInt(v) }},
	{"netdev_group", func(i *sysfs.NetClassIface, v string) { i.NetDevGroup = netclassInt(v) }},
	{"operstate", func(i *sysfs.NetClassIface, v string) { i.OperState = v }},
	{"speed", func(i *sysfs.NetClassIface, v string) { i.Speed = netclassInt(v) }},
	{"tx_queue_len", func(i *sysfs.NetClassIface, v string) { i.TxQueueLen = netclassInt(v) }},
	{"type", func(i *sysfs.NetClassIface, v string) { i.Type = netclassInt(v) }},
}

// netclassInt parses an attribute as procfs does (base from the prefix),
// including its quirk that a value that does not parse reads as 0.
func netclassInt(v string) *int64 {
	n, err := strconv.ParseInt(v, 0, 64)
	if err != nil {
		n = 0
	}
	return &n
}

// readNetclassIface reads the exported attributes of /sys/class/net/<dev>.
// An attribute the kernel or driver does not offer (ENOENT, EACCES,
// EOPNOTSUPP, EINVAL, ENODATA: the errors procfs ignores) is left unset;
// any other error is returned. A device that is gone returns an error that
// is fs.ErrNotExist.
func readNetclassIface(dir, dev string, buf []byte) (*sysfs.NetClassIface, error) {
	dfd, err := unix.Open(filepath.Join(dir, dev), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: filepath.Join(dir, dev), Err: err}
	}
	defer unix.Close(dfd)
	i := &sysfs.NetClassIface{Name: dev}
	for _, a := range netclassAttrs {
		n, err := readAt(dfd, a.name, buf)
		switch {
		case err == nil:
			a.set(i, string(bytes.TrimSpace(buf[:n])))
		case errors.Is(err, unix.ENOENT), errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM),
			errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENODATA):
		default:
			return nil, &fs.PathError{Op: "read", Path: filepath.Join(dir, dev, a.name), Err: err}
		}
	}
	return i, nil
}

// readAt reads the start of the file name in the directory dfd into buf
// with one read, as sysfs attributes are read: a second read would only
// return EOF, and a driver that answers EAGAIN must not be polled.
func readAt(dfd int, name string, buf []byte) (int, error) {
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	n, err := unix.Read(fd, buf)
	unix.Close(fd)
	if err != nil {
		return 0, err
	}
	return n, nil
}

func (c *netclassCollector) send(ch *collector.Sink, i *sysfs.NetClassIface) {
	up := 0.0
	if i.OperState == "up" {
		up = 1
	}
	ch.Send(c.up.Metric(up, i.Name))
	ch.Send(c.info.Metric(1, i.Name, i.Address, i.Broadcast, i.Duplex, i.OperState, i.IfAlias))
	for _, f := range c.fields {
		if v := f.get(i); v != nil {
			ch.Send(f.desc.Metric(float64(*v), i.Name))
		}
	}
	if i.Speed != nil && (*i.Speed >= 0 || !c.cfg.Netclass.IgnoreInvalidSpeed) {
		// Mbit/s to bytes/s, in integers as node_exporter computes it.
		ch.Send(c.speed.Metric(float64(*i.Speed*1000*1000/8), i.Name))
	}
}
