package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

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

func init() { register("filesystem", true, newFilesystem) }

// maxMountsSize bounds what we read of a mounts file; a host with tens of
// thousands of mounts (container churn) stays well below it.
const maxMountsSize = 64 << 20

// mountEntry is one parsed line of a mounts file.
type mountEntry struct {
	device, mountPoint, fsType string
	roOption                   bool // "ro" among the mount options
}

// fsMount is a mount as the collector reports it, cached by its raw line.
type fsMount struct {
	mountEntry
	statPath string // rootfs-relative path passed to statfs
	ignored  bool   // dropped by the mount-point or fs-type filter
	gen      uint64 // last scrape whose mounts file had this line
}

type fsKey struct{ device, mountPoint, fsType string }

type filesystemCollector struct {
	cfg              Config
	logger           *slog.Logger
	mpFilter, fsType *collector.Filter

	size, free, avail, files, filesFree, readonly, deviceError collector.TypedDesc

	mu    sync.Mutex // guards the parse state below
	buf   []byte
	lines map[string]*fsMount
	seen  map[fsKey]struct{}
	gen   uint64

	stuckMu sync.Mutex
	stuck   map[string]struct{} // mount points with a statfs still pending

	// expired, when set, replaces the MountTimeout timer: it returns the
	// channel that says the statfs of a mount point is out of time. Tests
	// set it so that they do not race a real timer.
	expired func(mountPoint string) <-chan time.Time
}

func newFilesystem(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	mp, err := collector.NewFilter("", cfg.Filesystem.MountPointsExclude)
	if err != nil {
		return nil, fmt.Errorf("filesystem mount-point filter: %w", err)
	}
	ft, err := collector.NewFilter("", cfg.Filesystem.FSTypesExclude)
	if err != nil {
		return nil, fmt.Errorf("filesystem fs-type filter: %w", err)
	}
	d := func(name, help string) collector.TypedDesc {
		return collector.NewTypedDesc("filesystem", name, help, prometheus.GaugeValue, "device", "mountpoint", "fstype")
	}
	return &filesystemCollector{
		cfg:         cfg,
		logger:      logger,
		mpFilter:    mp,
		fsType:      ft,
		size:        d("size_bytes", "Filesystem size in bytes."),
		free:        d("free_bytes", "Filesystem free space in bytes."),
		avail:       d("avail_bytes", "Filesystem space available to non-root users in bytes."),
		files:       d("files", "Filesystem total file nodes."),
		filesFree:   d("files_free", "Filesystem total free file nodes."),
		readonly:    d("readonly", "Filesystem read-only status."),
		deviceError: d("device_error", "Whether an error occurred while getting statistics for the given device."),
		lines:       make(map[string]*fsMount),
		seen:        make(map[fsKey]struct{}),
		stuck:       make(map[string]struct{}),
	}, nil
}

func (c *filesystemCollector) Update(ctx context.Context, ch *collector.Sink) error {
	mounts, err := c.mounts()
	if err != nil {
		return err
	}
	var timer *time.Timer
	if c.cfg.Filesystem.MountTimeout > 0 {
		timer = time.NewTimer(c.cfg.Filesystem.MountTimeout)
		defer timer.Stop()
	}
	for _, m := range mounts {
		labels := [3]string{m.device, m.mountPoint, m.fsType}
		st, err := c.statfs(ctx, timer, m)
		if err != nil {
			ch.Send(c.deviceError.Metric(1, labels[:]...))
			if ctxErr := ctx.Err(); ctxErr != nil {
				return fmt.Errorf("statfs %s: %w", m.mountPoint, ctxErr)
			}
			continue
		}
		ro := 0.0
		if m.roOption || st.ReadOnly {
			ro = 1
		}
		bs := float64(st.BlockSize)
		ch.Send(c.deviceError.Metric(0, labels[:]...))
		ch.Send(c.readonly.Metric(ro, labels[:]...))
		ch.Send(c.size.Metric(float64(st.Blocks)*bs, labels[:]...))
		ch.Send(c.free.Metric(float64(st.BlocksFree)*bs, labels[:]...))
		ch.Send(c.avail.Metric(float64(st.BlocksAvail)*bs, labels[:]...))
		ch.Send(c.files.Metric(float64(st.Files), labels[:]...))
		ch.Send(c.filesFree.Metric(float64(st.FilesFree), labels[:]...))
	}
	return nil
}

type statfsResult struct {
	st  Statfs
	err error
}

var errMountStuck = errors.New("mount point is unresponsive: an earlier statfs has not returned")

// statfs runs statfs on the mount with the mount timeout. A mount whose call
// does not return in time (a dead NFS server) is marked stuck and skipped by
// later scrapes until that call returns, so that hung calls cannot pile up.
func (c *filesystemCollector) statfs(ctx context.Context, timer *time.Timer, m *fsMount) (Statfs, error) {
	c.stuckMu.Lock()
	_, stuck := c.stuck[m.mountPoint]
	c.stuckMu.Unlock()
	if stuck {
		return Statfs{}, errMountStuck
	}

	res := make(chan statfsResult, 1)
	sys, mp, path := c.cfg.system(), m.mountPoint, m.statPath
	go func() {
		st, err := sys.Statfs(path)
		res <- statfsResult{st, err}
		c.stuckMu.Lock()
		if _, ok := c.stuck[mp]; ok {
			delete(c.stuck, mp)
			c.logger.Info("mount point has recovered, monitoring will resume", "mountpoint", mp)
		}
		c.stuckMu.Unlock()
	}()

	var expired <-chan time.Time
	switch {
	case c.expired != nil:
		expired = c.expired(mp)
	case timer != nil:
		timer.Reset(c.cfg.Filesystem.MountTimeout)
		expired = timer.C
	}
	select {
	case r := <-res:
		if r.err != nil {
			c.logger.Debug("statfs failed", "mountpoint", mp, "path", path, "err", r.err)
		}
		return r.st, r.err
	case <-expired:
	case <-ctx.Done():
	}
	// Out of time. Holding stuckMu, either the call has just finished (its
	// result is in res) or its goroutine will clear the mark made here once
	// it does.
	c.stuckMu.Lock()
	defer c.stuckMu.Unlock()
	select {
	case r := <-res:
		return r.st, r.err
	default:
	}
	c.stuck[mp] = struct{}{}
	c.logger.Warn("mount point is in an unresponsive state, skipping it until statfs returns",
		"mountpoint", mp, "timeout", c.cfg.Filesystem.MountTimeout)
	return Statfs{}, errMountStuck
}

// mounts reads <proc>/1/mounts (the host's mounts when running in a
// container with the host's PID namespace), falling back to
// <proc>/self/mounts, and returns the reported mounts, each once.
func (c *filesystemCollector) mounts() ([]*fsMount, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	path := c.cfg.procPath("1", "mounts")
	err := c.readFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		path = c.cfg.procPath("self", "mounts")
		err = c.readFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}

	c.gen++
	clear(c.seen)
	var out []*fsMount
	err = forEachLine(c.buf, func(line []byte) error {
		m, ok := c.lines[string(line)] // no allocation for the lookup
		if !ok {
			e, err := parseMountLine(line)
			if err != nil {
				return err
			}
			m = c.newMount(e)
			c.lines[string(line)] = m
		}
		m.gen = c.gen
		if m.ignored {
			return nil
		}
		k := fsKey{m.device, m.mountPoint, m.fsType}
		if _, dup := c.seen[k]; dup {
			return nil
		}
		c.seen[k] = struct{}{}
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	for line, m := range c.lines {
		if m.gen != c.gen {
			delete(c.lines, line)
		}
	}
	return out, nil
}

func (c *filesystemCollector) newMount(e mountEntry) *fsMount {
	e.mountPoint = c.stripRootfs(e.mountPoint)
	return &fsMount{
		mountEntry: e,
		statPath:   c.cfg.rootfsPath(e.mountPoint),
		ignored:    c.mpFilter.Ignored(e.mountPoint) || c.fsType.Ignored(e.fsType),
	}
}

// stripRootfs turns a mount point under the root file system prefix (the
// host's / mounted at /host) into the host's path, as node_exporter does.
func (c *filesystemCollector) stripRootfs(mp string) string {
	root := filepath.Clean(c.cfg.RootFS)
	if root == "/" || root == "." {
		return mp
	}
	if mp == root {
		return "/"
	}
	if rest, ok := strings.CutPrefix(mp, root); ok && strings.HasPrefix(rest, "/") {
		return rest
	}
	return mp
}

// readFile reads path into c.buf, reusing its storage across scrapes.
func (c *filesystemCollector) readFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	b := c.buf[:0]
	for {
		if len(b) == cap(b) {
			if len(b) >= maxMountsSize {
				return fmt.Errorf("%s: larger than %d bytes", path, maxMountsSize)
			}
			b = append(b, 0)[:len(b)]
		}
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	c.buf = b
	return nil
}

// forEachLine calls fn with each non-empty line of b.
func forEachLine(b []byte, fn func([]byte) error) error {
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := fn(line); err != nil {
			return err
		}
	}
	return nil
}

// parseMounts parses a mounts file (proc_pid_mounts(5)).
func parseMounts(r io.Reader) ([]mountEntry, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxMountsSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxMountsSize {
		return nil, fmt.Errorf("mounts larger than %d bytes", maxMountsSize)
	}
	var out []mountEntry
	err = forEachLine(b, func(line []byte) error {
		e, err := parseMountLine(line)
		if err == nil {
			out = append(out, e)
		}
		return err
	})
	return out, err
}

// parseMountLine parses "device mountpoint fstype options dump pass". The
// kernel escapes space, tab, newline and backslash in the mount point as
// \ooo octal sequences.
func parseMountLine(line []byte) (mountEntry, error) {
	var fields [4][]byte
	n := 0
	for rest := line; n < len(fields); n++ {
		rest = bytes.TrimLeft(rest, " \t")
		if len(rest) == 0 {
			break
		}
		end := bytes.IndexAny(rest, " \t")
		if end < 0 {
			end = len(rest)
		}
		fields[n], rest = rest[:end], rest[end:]
	}
	if n < len(fields) {
		return mountEntry{}, fmt.Errorf("malformed mount line %q", line)
	}
	e := mountEntry{
		device:     string(fields[0]),
		mountPoint: unescapeMountField(fields[1]),
		fsType:     string(fields[2]),
	}
	for opts := fields[3]; len(opts) > 0; {
		var opt []byte
		opt, opts, _ = bytes.Cut(opts, []byte(","))
		if string(opt) == "ro" {
			e.roOption = true
			break
		}
	}
	return e, nil
}

// unescapeMountField decodes \ooo octal escapes; anything else is kept as is.
func unescapeMountField(b []byte) string {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+3 < len(b) && isOctal(b[i+1]) && isOctal(b[i+2]) && isOctal(b[i+3]) && b[i+1] <= '3' {
			out = append(out, (b[i+1]-'0')<<6|(b[i+2]-'0')<<3|(b[i+3]-'0'))
			i += 3
			continue
		}
		out = append(out, b[i])
	}
	return string(out)
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
