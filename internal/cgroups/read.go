package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Read reads the resource usage of the cgroup at p, a path relative to the
// hierarchy root beginning with "/" ("/" for the root cgroup).
//
// Each controller is read from its cgroup v1 mount (h.V1) when there is one,
// otherwise from the unified hierarchy when h.UnifiedControllers lists it
// (cpu, memory, io, pids). A controller whose directory or files are missing
// leaves its Has* flag false. When the cgroup's directory is missing from
// every hierarchy consulted, or disappears while being read (the container
// exited mid-scrape), Read returns an error that wraps fs.ErrNotExist; a
// malformed or unreadable file gives an error naming it together with the
// stats of the other controllers, the one of that file left out (its Has*
// flag false), so that one bad file costs one family, not the cgroup.
//
// Read is safe for concurrent use; it reuses pooled buffers, so it allocates
// little beyond the returned Stats.IO.
func (h Hierarchy) Read(p string) (Stats, error) {
	st := Stats{Timestamp: time.Now()}
	rel := cleanCgroupPath(p)

	r := getReader()
	defer putReader(r)
	r.rel = rel

	// The unified directory is opened only when a controller is read from
	// it: on a hybrid host it may lack the cgroup.
	unified := func(c string) bool { return h.Unified != "" && slices.Contains(h.UnifiedControllers, c) }

	// A file that cannot be parsed drops only its controller (its Has*
	// flag and values), so one bad file costs one family, not the cgroup;
	// a cgroup that is gone is an error of its own.
	var errs []error
	keep := func(err error, drop func()) bool {
		if err == nil {
			return true
		}
		if errors.Is(err, fs.ErrNotExist) {
			return false
		}
		drop()
		errs = append(errs, err)
		return true
	}

	var err error
	cpu, acct := h.V1["cpu"], h.V1["cpuacct"]
	switch {
	case cpu != "" || acct != "":
		err = r.readV1CPU(&st, r.dir(cpu), r.dir(acct))
	case unified("cpu"):
		err = r.readV2CPU(&st, r.dir(h.Unified))
	}
	if !keep(err, func() { st.HasCPU, st.CPU = false, CPUStats{} }) {
		return Stats{}, err
	}

	err = nil
	switch mem := h.V1["memory"]; {
	case mem != "":
		err = r.readV1Memory(&st, r.dir(mem))
	case unified("memory"):
		err = r.readV2Memory(&st, r.dir(h.Unified))
	}
	if !keep(err, func() { st.HasMemory, st.Memory = false, MemoryStats{} }) {
		return Stats{}, err
	}

	err = nil
	switch blkio := h.V1["blkio"]; {
	case blkio != "":
		err = r.readV1Blkio(&st, r.dir(blkio))
	case unified("io"):
		err = r.readV2IO(&st, r.dir(h.Unified))
	}
	if !keep(err, func() { st.HasIO, st.IO = false, nil }) {
		return Stats{}, err
	}

	err = nil
	if pids := h.V1["pids"]; cpu != "" || acct != "" || h.V1["memory"] != "" || pids != "" {
		err = r.readV1Pids(&st, [...]*cgDir{r.dir(cpu), r.dir(acct), r.dir(h.V1["memory"]), r.dir(pids)}, r.dir(pids))
	} else if h.Unified != "" {
		err = r.readV2Pids(&st, r.dir(h.Unified), unified("pids"))
	}
	if !keep(err, func() { st.HasPids, st.Processes, st.Threads, st.PID = false, 0, 0, 0 }) {
		return Stats{}, err
	}

	if err := r.checkGone(); err != nil {
		return Stats{}, err
	}
	return st, errors.Join(errs...)
}

// cleanCgroupPath makes p rooted and clean, so that it cannot climb out of
// a mount with "..". It allocates only when p is not already clean.
func cleanCgroupPath(p string) string {
	if p == "" || p == "/" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	return path.Clean(p)
}

// errGone builds the error for a cgroup that does not exist (any more).
func errGone(where string, cause error) error {
	if cause == nil {
		return fmt.Errorf("cgroups: %s: %w", where, fs.ErrNotExist)
	}
	return fmt.Errorf("cgroups: %s: %w (%w)", where, fs.ErrNotExist, cause)
}

// dirState says whether a cgroup directory was opened.
type dirState uint8

const (
	dirUnopened dirState = iota
	dirPresent
	dirMissing
)

// cgDir is the cgroup's directory under one mount, opened once per Read
// (co-mounted controllers share it).
type cgDir struct {
	mount string
	path  string
	fd    int
	state dirState
}

// reader holds one Read's scratch state: the file buffer and the directories
// opened. It is pooled.
type reader struct {
	buf  []byte
	rel  string
	dirs [6]cgDir
	n    int
	// suspect is set when a directory or a file every cgroup has was
	// missing: the cgroup may have vanished during the Read.
	suspect bool
}

var readerPool = sync.Pool{New: func() any { return &reader{buf: make([]byte, 0, 8<<10)} }}

// maxPooledBuf bounds the buffer a pooled reader keeps (a big root
// cgroup.procs may grow it further for one Read).
const maxPooledBuf = 1 << 20

func getReader() *reader { return readerPool.Get().(*reader) }

func putReader(r *reader) {
	for i := range r.n {
		if r.dirs[i].state == dirPresent {
			_ = unix.Close(r.dirs[i].fd)
		}
		r.dirs[i] = cgDir{}
	}
	r.n, r.rel, r.suspect = 0, "", false
	if cap(r.buf) > maxPooledBuf {
		return
	}
	r.buf = r.buf[:0]
	readerPool.Put(r)
}

// dir returns the cgroup's directory under mount, opening it on first use;
// nil when mount is "".
func (r *reader) dir(mount string) *cgDir {
	if mount == "" {
		return nil
	}
	for i := range r.n {
		if r.dirs[i].mount == mount {
			return &r.dirs[i]
		}
	}
	if r.n == len(r.dirs) {
		return nil // cannot happen: at most 5 v1 mounts and the unified one
	}
	d := &r.dirs[r.n]
	r.n++
	d.mount = mount
	d.path = mount
	if r.rel != "/" {
		d.path = mount + r.rel
	}
	for {
		fd, err := unix.Open(d.path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_PATH, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			d.state = dirMissing
			r.suspect = true
		} else {
			d.fd, d.state = fd, dirPresent
		}
		return d
	}
}

// present reports whether d is an existing cgroup directory.
func (d *cgDir) present() bool { return d != nil && d.state == dirPresent }

// read reads the file name of d into the reader's buffer. found is false
// when the file does not exist (the controller or kernel lacks it). The
// returned bytes are valid until the next read.
func (r *reader) read(d *cgDir, name string) (data []byte, found bool, err error) {
	if !d.present() {
		return nil, false, nil
	}
	var fd int
	for {
		fd, err = unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, false, nil
		}
		if errors.Is(err, unix.ENODEV) {
			return nil, false, errGone(d.path+"/"+name, err)
		}
		return nil, false, fmt.Errorf("cgroups: open %s/%s: %w", d.path, name, err)
	}
	defer unix.Close(fd)
	buf := r.buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, cap(buf))
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			r.buf = buf[:0]
			if errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT) {
				return nil, false, errGone(d.path+"/"+name, err)
			}
			return nil, false, fmt.Errorf("cgroups: read %s/%s: %w", d.path, name, err)
		}
		if n <= 0 {
			break
		}
		buf = buf[:len(buf)+n]
	}
	r.buf = buf[:0]
	return buf, true, nil
}

// readRequired is read for a file every cgroup of the controller has: its
// absence in an existing directory hints that the cgroup went away.
func (r *reader) readRequired(d *cgDir, name string) ([]byte, bool, error) {
	b, ok, err := r.read(d, name)
	if !ok && err == nil && d.present() {
		r.suspect = true
	}
	return b, ok, err
}

// malformed wraps a parse error with the file's name.
func malformed(d *cgDir, name string, err error) error {
	return fmt.Errorf("cgroups: parse %s/%s: %w", d.path, name, err)
}

// checkGone is Read's last step: when no directory existed the cgroup does
// not exist; when something was missing, the directories that were there are
// checked again, and if one has gone the cgroup disappeared mid-read.
func (r *reader) checkGone() error {
	present := 0
	for i := range r.n {
		if r.dirs[i].state == dirPresent {
			present++
		}
	}
	if present == 0 {
		if r.n == 0 {
			return fmt.Errorf("cgroups: %s: no controller hierarchy to read: %w", r.rel, fs.ErrNotExist)
		}
		return errGone(r.dirs[0].path, nil)
	}
	if !r.suspect {
		return nil
	}
	for i := range r.n {
		d := &r.dirs[i]
		if d.state != dirPresent {
			continue
		}
		var st unix.Stat_t
		if err := unix.Stat(d.path, &st); err != nil && errors.Is(err, unix.ENOENT) {
			return errGone(d.path, err)
		}
	}
	return nil
}
