package host

import "time"

// node_exporter's default exclusions: pseudo and container-runtime mounts.
const (
	DefaultMountPointsExclude = `^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)`
	DefaultFSTypesExclude     = `^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$`
)

// FilesystemConfig selects the mounts the filesystem collector reports.
type FilesystemConfig struct {
	MountPointsExclude string // regexp of mount points to ignore
	FSTypesExclude     string // regexp of file system types to ignore
	// MountTimeout is how long statfs may block on one mount (a dead NFS
	// server) before the mount is reported with device_error 1 and skipped
	// until the stuck call returns.
	MountTimeout time.Duration
}
