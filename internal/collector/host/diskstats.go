package host

// DefaultDiskstatsDeviceExclude is node_exporter's: partitions, RAM and loop
// devices.
const DefaultDiskstatsDeviceExclude = `^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`

// DiskstatsConfig selects the block devices reported.
type DiskstatsConfig struct {
	DeviceInclude string // regexp; when set only matching devices are kept
	DeviceExclude string // regexp of devices to drop
}
