package host

// DefaultVmstatFields is node_exporter's default selection of /proc/vmstat.
const DefaultVmstatFields = `^(oom_kill|pgpg|pswp|pg.*fault).*`

// VmstatConfig selects the fields reported.
type VmstatConfig struct {
	Fields string // regexp of /proc/vmstat keys to keep
}
