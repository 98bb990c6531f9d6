package host

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("zfs", true, newZFS) }

// zfsKstats maps node_exporter's subsystem names to the named kstat files
// of /proc/spl/kstat/zfs it reads; a file missing from a ZFS version is
// skipped.
var zfsKstats = []struct{ subsystem, file string }{
	{"zfs_abd", "abdstats"},
	{"zfs_arc", "arcstats"},
	{"zfs_dbuf", "dbuf_stats"},
	{"zfs_dmu_tx", "dmu_tx"},
	{"zfs_dnode", "dnodestats"},
	{"zfs_fm", "fm"},
	{"zfs_vdev_cache", "vdev_cache_stats"},
	{"zfs_vdev_mirror", "vdev_mirror_stats"},
	{"zfs_xuio", "xuio_stats"},
	{"zfs_zfetch", "zfetchstats"},
	{"zfs_zil", "zil"},
}

// zfsPoolStates are the states node_exporter reports for each pool.
var zfsPoolStates = []string{"online", "degraded", "faulted", "offline", "removed", "unavail"}

// zfsCollector reports ZFS on Linux kstats, read directly from
// /proc/spl/kstat/zfs as node_exporter 1.5 does: every uint64 counter of
// the named kstats as an untyped node_zfs_<subsystem>_<name> whose HELP is
// the kstat's sysctl-like name, plus per-pool io, per-dataset objset and
// pool state.
type zfsCollector struct {
	cfg    Config
	logger *slog.Logger
	descs  collector.DescCache
	state  collector.TypedDesc
}

func newZFS(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	return &zfsCollector{
		cfg:    cfg,
		logger: logger,
		state:  collector.NewTypedDesc("zfs_zpool", "state", "kstat.zfs.misc.state", prometheus.GaugeValue, "zpool", "state"),
	}, nil
}

// zfsMetricName turns a kstat key into node_exporter's metric name part:
// its last dotted element with dashes made underscores.
func zfsMetricName(key string) string {
	return strings.ReplaceAll(key[strings.LastIndexByte(key, '.')+1:], "-", "_")
}

func (c *zfsCollector) desc(subsystem, key string, labels ...string) collector.TypedDesc {
	return c.descs.Get(prometheus.BuildFQName(collector.Namespace, subsystem, zfsMetricName(key)), key, prometheus.UntypedValue, labels...)
}

func (c *zfsCollector) Update(_ context.Context, ch *collector.Sink) error {
	base := c.cfg.procPath("spl", "kstat", "zfs")
	if _, err := os.Stat(base); err != nil {
		// No zfs module: no data, as node_exporter.
		return fmt.Errorf("read %s: %w: %w", base, collector.ErrNoData, err)
	}
	for _, k := range zfsKstats {
		path := filepath.Join(base, k.file)
		kvs, err := readZFS(path, parseZFSKstat)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // a kstat this ZFS version does not have
			}
			return err
		}
		for _, kv := range kvs {
			key := "kstat.zfs.misc." + k.file + "." + kv.name
			ch.Send(c.desc(k.subsystem, key).Metric(float64(kv.value)))
		}
	}
	return c.updatePools(ch, base)
}

// updatePools reads <pool>/io, <pool>/objset-* and <pool>/state. A pool
// being exported removes its files mid-scrape; node_exporter then gives up
// on the pools with "no data", and so do we.
func (c *zfsCollector) updatePools(ch *collector.Sink, base string) error {
	ios, _ := filepath.Glob(filepath.Join(base, "*", "io"))
	for _, path := range ios {
		pool := filepath.Base(filepath.Dir(path))
		kvs, err := readZFS(path, parseZFSPoolIO)
		if err != nil {
			return zfsPoolErr(err)
		}
		for _, kv := range kvs {
			ch.Send(c.desc("zfs_zpool", "kstat.zfs.misc.io."+kv.name, "zpool").Metric(float64(kv.value), pool))
		}
	}
	objsets, _ := filepath.Glob(filepath.Join(base, "*", "objset-*"))
	for _, path := range objsets {
		pool := filepath.Base(filepath.Dir(path))
		set, err := readZFS(path, parseZFSObjset)
		if err != nil {
			return zfsPoolErr(err)
		}
		for _, kv := range set.values {
			ch.Send(c.desc("zfs_zpool_dataset", "kstat.zfs.misc.objset."+kv.name, "zpool", "dataset").Metric(float64(kv.value), pool, set.dataset))
		}
	}
	states, _ := filepath.Glob(filepath.Join(base, "*", "state"))
	for _, path := range states {
		pool := filepath.Base(filepath.Dir(path))
		state, err := readZFS(path, parseZFSPoolState)
		if err != nil {
			return zfsPoolErr(err)
		}
		for _, s := range zfsPoolStates {
			v := 0.0
			if s == state {
				v = 1
			}
			ch.Send(c.state.Metric(v, pool, s))
		}
	}
	return nil
}

func zfsPoolErr(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", collector.ErrNoData, err)
	}
	return err
}

// readZFS opens path and parses it, naming the file in any error.
func readZFS[T any](path string, parse func(io.Reader) (T, error)) (T, error) {
	var zero T
	f, err := os.Open(path)
	if err != nil {
		return zero, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	v, err := parse(io.LimitReader(f, maxZFSKstatSize))
	if err != nil {
		return zero, fmt.Errorf("parse %s: %w", path, err)
	}
	return v, nil
}

// maxZFSKstatSize bounds what is read of one kstat file (arcstats is about
// 8 KiB).
const maxZFSKstatSize = 1 << 20

// zfsKV is one uint64 kstat value.
type zfsKV struct {
	name  string
	value uint64
}

// kstatUint64 is KSTAT_DATA_UINT64, the only kstat type node_exporter reads.
const kstatUint64 = "4"

// parseZFSKstat parses a named kstat file: a header line, then the column
// line "name type data", then one "name type value" line per statistic. It
// returns the uint64 statistics, and fails if the column line is missing.
func parseZFSKstat(r io.Reader) ([]zfsKV, error) {
	sc := bufio.NewScanner(r)
	var out []zfsKV
	started := false
	for sc.Scan() {
		parts := strings.Fields(sc.Text())
		if !started {
			started = len(parts) == 3 && parts[0] == "name" && parts[1] == "type" && parts[2] == "data"
			continue
		}
		if len(parts) < 3 || parts[1] != kstatUint64 {
			continue
		}
		v, err := strconv.ParseUint(parts[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("value of %s: %w", parts[0], err)
		}
		out = append(out, zfsKV{parts[0], v})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !started {
		return nil, errors.New("no \"name type data\" line")
	}
	return out, nil
}

// parseZFSPoolIO parses a pool's io kstat: a header line, a line of column
// names starting with nread (12 or more), and a line of values.
func parseZFSPoolIO(r io.Reader) ([]zfsKV, error) {
	sc := bufio.NewScanner(r)
	var names []string
	var out []zfsKV
	for sc.Scan() {
		parts := strings.Fields(sc.Text())
		if names == nil {
			if len(parts) >= 12 && parts[0] == "nread" {
				names = parts
			}
			continue
		}
		if len(parts) < len(names) {
			return nil, fmt.Errorf("%d values for %d columns", len(parts), len(names))
		}
		if out != nil {
			return nil, errors.New("more than one line of values")
		}
		out = make([]zfsKV, 0, len(names))
		for i, n := range names {
			v, err := strconv.ParseUint(parts[i], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("value of %s: %w", n, err)
			}
			out = append(out, zfsKV{n, v})
		}
	}
	return out, sc.Err()
}

// zfsObjset is a dataset's objset kstat.
type zfsObjset struct {
	dataset string
	values  []zfsKV
}

// parseZFSObjset parses an objset-0x<id> kstat: a named kstat whose
// dataset_name row (type 7, a string) names the dataset.
func parseZFSObjset(r io.Reader) (zfsObjset, error) {
	sc := bufio.NewScanner(r)
	var out zfsObjset
	started := false
	for sc.Scan() {
		parts := strings.Fields(sc.Text())
		if !started {
			started = len(parts) == 3 && parts[0] == "name" && parts[1] == "type" && parts[2] == "data"
			continue
		}
		if len(parts) < 3 {
			continue
		}
		if parts[0] == "dataset_name" {
			out.dataset = parts[2]
			continue
		}
		if parts[1] != kstatUint64 {
			continue
		}
		v, err := strconv.ParseUint(parts[2], 10, 64)
		if err != nil {
			return zfsObjset{}, fmt.Errorf("value of %s: %w", parts[0], err)
		}
		out.values = append(out.values, zfsKV{parts[0], v})
	}
	if err := sc.Err(); err != nil {
		return zfsObjset{}, err
	}
	if !started {
		return zfsObjset{}, errors.New("no \"name type data\" line")
	}
	return out, nil
}

// parseZFSPoolState returns a pool's state file's first line, lower-cased
// (ONLINE, DEGRADED, ...).
func parseZFSPoolState(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	sc.Scan()
	return strings.ToLower(sc.Text()), sc.Err()
}
