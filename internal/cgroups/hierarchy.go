package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrNoHierarchy is returned (wrapped) by Detect when the mount table has no
// cgroup or cgroup2 mount, and by Discover when the Hierarchy has no mount to
// walk.
var ErrNoHierarchy = errors.New("no cgroup hierarchy mounted")

// mountInfo is one line of /proc/<pid>/mountinfo, with the fields Detect
// needs; escapes (\040 for a space) are decoded.
type mountInfo struct {
	ID, ParentID int
	// Root is the mount's root within its filesystem, MountPoint where it is
	// mounted, in the mount namespace of the process whose mountinfo it is.
	Root, MountPoint string
	FSType, Source   string
	// SuperOptions are the per-superblock options: for cgroup v1 they name
	// the controllers ("rw,cpu,cpuacct").
	SuperOptions string
}

// mountInfoMaxLine bounds one mountinfo line: overlay mounts with many
// layers have long option lists, but not this long.
const mountInfoMaxLine = 4 << 20

// parseMountInfo parses the mount table in the format of
// /proc/<pid>/mountinfo (proc(5)):
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// Blank lines are skipped; a line with fewer than six fields before the "-"
// separator, no separator, no filesystem type after it, or a non-numeric
// mount ID is an error.
func parseMountInfo(r io.Reader) ([]mountInfo, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), mountInfoMaxLine)
	var mounts []mountInfo
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		sep := -1
		for i := 6; i < len(fields); i++ {
			if fields[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(fields) {
			return nil, fmt.Errorf("mountinfo line %d: want 6 fields, optional fields, \"-\" and the filesystem type, have %q", line, sc.Text())
		}
		id, err := strconv.Atoi(fields[0])
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: mount ID: %w", line, err)
		}
		parent, err := strconv.Atoi(fields[1])
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: parent ID: %w", line, err)
		}
		m := mountInfo{
			ID:         id,
			ParentID:   parent,
			Root:       unescapeMountField(fields[3]),
			MountPoint: unescapeMountField(fields[4]),
			FSType:     unescapeMountField(fields[sep+1]),
		}
		if sep+2 < len(fields) {
			m.Source = unescapeMountField(fields[sep+2])
		}
		if sep+3 < len(fields) {
			m.SuperOptions = unescapeMountField(fields[sep+3])
		}
		mounts = append(mounts, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading mountinfo: %w", err)
	}
	return mounts, nil
}

// unescapeMountField decodes the kernel's octal escapes in a mountinfo field
// (\040 space, \011 tab, \012 newline, \134 backslash); a backslash not
// followed by three octal digits of a byte value is kept as it is.
func unescapeMountField(s string) string {
	i := strings.IndexByte(s, '\\')
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+3 < len(s) && isOctalEscape(s[i+1:i+4]) {
			b = append(b, (s[i+1]-'0')<<6|(s[i+2]-'0')<<3|(s[i+3]-'0'))
			i += 3
			continue
		}
		b = append(b, c)
	}
	return string(b)
}

// isOctalEscape reports whether d, three bytes, is an octal byte value
// (000 to 377).
func isOctalEscape(d string) bool {
	return '0' <= d[0] && d[0] <= '3' &&
		'0' <= d[1] && d[1] <= '7' &&
		'0' <= d[2] && d[2] <= '7'
}

// cgroupMountOptions are cgroup v1 super options that are not controllers.
var cgroupMountOptions = map[string]bool{
	"rw": true, "ro": true, "none": true, "all": true, "noprefix": true,
	"clone_children": true, "xattr": true, "cpuset_v2_mode": true,
	"favordynmods": true,
}

// Detect finds where the host's cgroup controllers are mounted, from the
// mount table of the host's init process, procRoot/1/mountinfo (or, if that
// cannot be read, procRoot/self/mountinfo). Mount points under /sys are
// re-rooted under sysRoot ("" means "/sys"), so that an agent running in a
// container with the host's /proc and /sys at /host/proc and /host/sys finds
// them. When a controller is mounted several times, the mount of the whole
// hierarchy (root "/") is preferred, then one under /sys.
func Detect(procRoot, sysRoot string) (Hierarchy, error) {
	if sysRoot == "" {
		sysRoot = "/sys"
	}
	name := filepath.Join(procRoot, "1", "mountinfo")
	f, err := os.Open(name)
	if err != nil {
		self := filepath.Join(procRoot, "self", "mountinfo")
		f, err = os.Open(self)
		if err != nil {
			return Hierarchy{}, fmt.Errorf("cgroups: reading the mount table: %w", err)
		}
		name = self
	}
	mounts, err := parseMountInfo(f)
	f.Close()
	if err != nil {
		return Hierarchy{}, fmt.Errorf("cgroups: %s: %w", name, err)
	}

	var h Hierarchy
	v1Score := map[string]int{}
	unifiedScore := -1
	for _, m := range mounts {
		switch m.FSType {
		case "cgroup":
			score := mountScore(m)
			mp := rerootSys(m.MountPoint, sysRoot)
			for opt := range strings.SplitSeq(m.SuperOptions, ",") {
				if opt == "" || cgroupMountOptions[opt] || strings.IndexByte(opt, '=') >= 0 {
					continue // name=systemd, release_agent=...
				}
				if old, ok := v1Score[opt]; ok && old >= score {
					continue
				}
				if h.V1 == nil {
					h.V1 = map[string]string{}
				}
				h.V1[opt] = mp
				v1Score[opt] = score
			}
		case "cgroup2":
			if score := mountScore(m); score > unifiedScore {
				h.Unified = rerootSys(m.MountPoint, sysRoot)
				unifiedScore = score
			}
		}
	}
	if h.V1 == nil && h.Unified == "" {
		return Hierarchy{}, fmt.Errorf("cgroups: %s: %w", name, ErrNoHierarchy)
	}
	if h.Unified != "" {
		b, err := os.ReadFile(filepath.Join(h.Unified, "cgroup.controllers"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return Hierarchy{}, fmt.Errorf("cgroups: reading the unified hierarchy's controllers: %w", err)
		}
		if c := strings.Fields(string(b)); len(c) > 0 {
			h.UnifiedControllers = c
		}
	}
	return h, nil
}

// mountScore ranks the mounts of one hierarchy: the whole hierarchy (root
// "/") first, then one mounted under /sys.
func mountScore(m mountInfo) int {
	score := 0
	if m.Root == "/" {
		score += 2
	}
	if m.MountPoint == "/sys" || strings.HasPrefix(m.MountPoint, "/sys/") {
		score++
	}
	return score
}

// rerootSys puts a mount point under /sys under sysRoot instead.
func rerootSys(mountPoint, sysRoot string) string {
	if mountPoint == "/sys" || strings.HasPrefix(mountPoint, "/sys/") {
		return filepath.Join(sysRoot, mountPoint[len("/sys"):])
	}
	return mountPoint
}
