package host

// DefaultNetdevDeviceExclude is node_exporter's default: only loopback.
const DefaultNetdevDeviceExclude = `^lo$`

// NetdevConfig selects the network devices reported.
type NetdevConfig struct {
	DeviceInclude string // regexp; when set only matching devices are kept
	DeviceExclude string // regexp of devices to drop
}
