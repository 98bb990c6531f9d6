package kubelet

import (
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/procfs"
)

// hostReader reads what the summary's node figures need beyond the root
// cgroup.
type hostReader interface {
	// bootTime is when the host booted (the full summary's node startTime).
	bootTime() (time.Time, error)
	// memTotal is the host's memory size, which cAdvisor takes as the root
	// cgroup's limit (the node's availableBytes).
	memTotal() (uint64, error)
	// netDev is the host network namespace's interfaces, less those cAdvisor
	// leaves out.
	netDev() ([]procfs.NetDevLine, error)
}

// procHost reads the host's /proc (mounted at root).
type procHost struct {
	root string
}

func (p procHost) fs() (procfs.FS, error) { return procfs.NewFS(p.root) }

func (p procHost) bootTime() (time.Time, error) {
	fs, err := p.fs()
	if err != nil {
		return time.Time{}, err
	}
	st, err := fs.Stat()
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(int64(st.BootTime), 0), nil
}

func (p procHost) memTotal() (uint64, error) {
	fs, err := p.fs()
	if err != nil {
		return 0, err
	}
	mi, err := fs.Meminfo()
	if err != nil {
		return 0, err
	}
	if mi.MemTotalBytes == nil {
		return 0, errors.New("meminfo has no MemTotal")
	}
	return *mi.MemTotalBytes, nil
}

// netDev reads /proc/1/net/dev: cAdvisor reads the root cgroup's network
// statistics through PID 1, whatever namespace the agent itself is in.
func (p procHost) netDev() ([]procfs.NetDevLine, error) {
	fs, err := p.fs()
	if err != nil {
		return nil, err
	}
	proc, err := fs.Proc(1)
	if err != nil {
		return nil, err
	}
	nd, err := proc.NetDev()
	if err != nil {
		return nil, err
	}
	out := make([]procfs.NetDevLine, 0, len(nd))
	for name, line := range nd {
		if !ignoredInterface(name) {
			out = append(out, line)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ignoredInterface reports the interfaces cAdvisor leaves out of network
// statistics (isIgnoredDevice): loopback and the host ends of container
// links. The container collector filters the pods' interfaces the same way.
func ignoredInterface(name string) bool {
	for _, p := range []string{"lo", "veth", "docker", "nerdctl"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
