package cgroups

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// discoverMaxDepth is how deep below the hierarchy root Discover looks.
const discoverMaxDepth = 32

// Discover walks the directory tree of one hierarchy and returns its cgroups
// as Classify sees them, sorted by Path: the root ("/"), every pod, pod
// container, container and service, or, with all, every cgroup.
//
// The hierarchy walked is the unified one when it has any of the cpu,
// memory, io or pids controllers (a cgroup v2 host); else the cgroup v1 cpu
// mount, or cpuacct, or memory (a v1 or hybrid host); else the unified one.
// With all on a v1 or hybrid host, every v1 hierarchy Read reads (cpu,
// cpuacct, memory, blkio, pids) is walked and the union reported, as
// cAdvisor lists raw cgroups: a cgroup made by hand in some hierarchies only
// (memory and cpuacct, not cpu) is still found. Without all, only the first
// is walked: the kubelet and the runtimes create their cgroups in every
// hierarchy, and one walk costs a fifth of five.
// Cgroups that vanish during the walk are skipped; the walk stops 32 levels
// below the root.
func (h Hierarchy) Discover(all bool) ([]Ref, error) {
	refs, _, err := h.DiscoverCount(all)
	return refs, err
}

// DiscoverCount is Discover that also counts the cgroups it left out
// (without all, those of KindOther in the hierarchy walked): how many more
// --collector.container.all-cgroups would report, which an empty page
// uses to explain itself.
func (h Hierarchy) DiscoverCount(all bool) (refs []Ref, others int, err error) {
	roots := h.walkRoots(all)
	if len(roots) == 0 {
		return nil, 0, fmt.Errorf("cgroups: discover: %w", ErrNoHierarchy)
	}
	w := discoverWalker{all: all, refs: make([]Ref, 0, 64)}
	w.refs = append(w.refs, Ref{Path: "/", Kind: KindRoot})
	for i, root := range roots {
		root = filepath.Clean(root)
		w.prefix = len(root)
		if root == "/" {
			w.prefix = 0
		}
		if err := w.walk(root, 0); err != nil {
			if i > 0 && errors.Is(err, fs.ErrNotExist) {
				continue // a further hierarchy unmounted meanwhile
			}
			return nil, 0, err
		}
	}
	slices.SortFunc(w.refs, func(a, b Ref) int { return strings.Compare(a.Path, b.Path) })
	if len(roots) > 1 {
		// The same cgroup in several hierarchies: keep one.
		w.refs = slices.CompactFunc(w.refs, func(a, b Ref) bool { return a.Path == b.Path })
	}
	return w.refs, w.skipped, nil
}

// Walked returns the mounts Discover(all) walks, the first one first; none
// when the Hierarchy has no mount to walk.
func (h Hierarchy) Walked(all bool) []string { return h.walkRoots(all) }

// Layout names the host's cgroup layout: "v2" (the unified hierarchy
// alone), "v1" (v1 hierarchies alone), "hybrid" (v1 hierarchies and a
// unified one, with or without controllers), or "none".
func (h Hierarchy) Layout() string {
	switch {
	case len(h.V1) > 0 && h.Unified != "":
		return "hybrid"
	case len(h.V1) > 0:
		return "v1"
	case h.Unified != "":
		return "v2"
	}
	return "none"
}

// unionControllers are the v1 hierarchies Discover(true) walks: those Read
// reads from.
var unionControllers = [...]string{"cpu", "cpuacct", "memory", "blkio", "pids"}

// walkRoots are the mounts Discover walks: walkRoot, and with all on a v1
// or hybrid host every other distinct mount of unionControllers.
func (h Hierarchy) walkRoots(all bool) []string {
	first := h.walkRoot()
	if first == "" {
		return nil
	}
	roots := []string{first}
	if !all || first == h.Unified {
		return roots
	}
	for _, c := range unionControllers {
		if m := h.V1[c]; m != "" && !slices.Contains(roots, m) {
			roots = append(roots, m)
		}
	}
	return roots
}

// walkRoot is the mount Discover walks, "" if none.
func (h Hierarchy) walkRoot() string {
	if h.Unified != "" {
		for _, c := range h.UnifiedControllers {
			switch c {
			case "cpu", "memory", "io", "pids":
				return h.Unified
			}
		}
	}
	for _, c := range [...]string{"cpu", "cpuacct", "memory"} {
		if p := h.V1[c]; p != "" {
			return p
		}
	}
	return h.Unified
}

type discoverWalker struct {
	all bool
	// prefix is the length of the root's path: dir[prefix:] is a cgroup's
	// path relative to the root.
	prefix int
	refs   []Ref
	// skipped counts the cgroups of KindOther left out (without all).
	skipped int

	// Reused across directories: the getdents buffer, the names of the
	// subdirectories of the directories being walked (names[spans[i]:
	// spans[i+1]]) and a buffer to build paths in.
	dents []byte
	names []byte
	spans []int
	path  []byte
}

// walk adds the cgroups below dir, which is depth levels below the root.
func (w *discoverWalker) walk(dir string, depth int) error {
	first := len(w.spans)
	if err := w.readSubdirs(dir); err != nil {
		if depth > 0 && errors.Is(err, fs.ErrNotExist) {
			return nil // removed since its parent was read
		}
		return fmt.Errorf("cgroups: discover: %w", err)
	}
	last := len(w.spans)
	for i := first; i < last; i += 2 {
		// w.names may move as the walk below appends to it: index it anew.
		w.path = append(append(append(w.path[:0], dir...), '/'), w.names[w.spans[i]:w.spans[i+1]]...)
		child := string(w.path)
		ref := Classify(child[w.prefix:])
		if w.all || ref.Kind != KindOther {
			w.refs = append(w.refs, ref)
		} else {
			w.skipped++
		}
		if depth+1 < discoverMaxDepth {
			if err := w.walk(child, depth+1); err != nil {
				return err
			}
		}
	}
	if first < last {
		w.names = w.names[:w.spans[first]]
	}
	w.spans = w.spans[:first]
	return nil
}

// readSubdirs appends the names of dir's subdirectories to w.names and
// their start and end offsets there to w.spans. It reads the directory with
// getdents(2) rather than os.ReadDir, which allocates for every entry: a
// cgroup directory holds dozens of interface files and few subdirectories.
func (w *discoverWalker) readSubdirs(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	for errors.Is(err, unix.EINTR) {
		fd, err = unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	if w.dents == nil {
		w.dents = make([]byte, 16<<10)
	}
	for {
		n, err := unix.Getdents(fd, w.dents)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return &fs.PathError{Op: "getdents", Path: dir, Err: err}
		}
		if n <= 0 {
			return nil
		}
		// struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type,
		// NUL-terminated name.
		const nameOff = 19
		for b := w.dents[:n]; len(b) > nameOff; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen <= nameOff || reclen > len(b) {
				return &fs.PathError{Op: "getdents", Path: dir, Err: errors.New("malformed directory entry")}
			}
			typ, name := b[18], b[nameOff:reclen]
			b = b[reclen:]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if len(name) == 0 || name[0] == '.' && (len(name) == 1 || len(name) == 2 && name[1] == '.') {
				continue
			}
			if typ == unix.DT_UNKNOWN {
				// A filesystem that does not fill in d_type.
				var st unix.Stat_t
				if unix.Fstatat(fd, string(name), &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
					continue // gone
				}
				if st.Mode&unix.S_IFMT == unix.S_IFDIR {
					typ = unix.DT_DIR
				}
			}
			if typ != unix.DT_DIR {
				continue
			}
			w.spans = append(w.spans, len(w.names))
			w.names = append(w.names, name...)
			w.spans = append(w.spans, len(w.names))
		}
	}
}
