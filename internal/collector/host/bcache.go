package host

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs/bcache"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

// BcacheConfig selects what the bcache collector reads.
type BcacheConfig struct {
	// PriorityStats also reads each cache device's priority_stats, which
	// makes the kernel walk every bucket (expensive on large caches).
	PriorityStats bool
}

func init() { register("bcache", true, newBcache) }

// bcacheCollector reports bcache cache sets from /sys/fs/bcache/<uuid>/, with
// their backing (bdevN) and cache (cacheN) devices. A host without bcache
// reports nothing, successfully, as node_exporter does.
type bcacheCollector struct {
	cfg   Config
	descs collector.DescCache
}

func newBcache(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	return &bcacheCollector{cfg: cfg}, nil
}

// bcacheValue is one series: its family, HELP, type and value, and the
// label (besides uuid) naming the device it belongs to.
type bcacheValue struct {
	name, help string
	t          prometheus.ValueType
	v          float64
}

func (c *bcacheCollector) Update(_ context.Context, ch *collector.Sink) error {
	bfs, err := bcache.NewFS(c.cfg.SysRoot)
	if err != nil {
		return fmt.Errorf("open sysfs: %w", err)
	}
	var stats []*bcache.Stats
	if c.cfg.Bcache.PriorityStats {
		stats, err = bfs.Stats()
	} else {
		stats, err = bfs.StatsWithoutPriority()
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", c.cfg.sysPath("fs", "bcache"), err)
	}
	for _, s := range stats {
		c.send(ch, s)
	}
	return nil
}

func (c *bcacheCollector) send(ch *collector.Sink, s *bcache.Stats) {
	emit := func(label, device string, vals []bcacheValue) {
		for _, m := range vals {
			if label == "" {
				ch.Send(c.descs.Get("node_bcache_"+m.name, m.help, m.t, "uuid").Metric(m.v, s.Name))
				continue
			}
			ch.Send(c.descs.Get("node_bcache_"+m.name, m.help, m.t, "uuid", label).Metric(m.v, s.Name, device))
		}
	}
	g, cnt := prometheus.GaugeValue, prometheus.CounterValue
	b := &s.Bcache
	emit("", "", []bcacheValue{
		{"average_key_size_sectors", "Average data per key in the btree (sectors).", g, float64(b.AverageKeySize)},
		{"btree_cache_size_bytes", "Amount of memory currently used by the btree cache.", g, float64(b.BtreeCacheSize)},
		{"cache_available_percent", "Percentage of cache device without dirty data, usable for writeback (may contain clean cached data).", g, float64(b.CacheAvailablePercent)},
		{"congested", "Congestion.", g, float64(b.Congested)},
		{"root_usage_percent", "Percentage of the root btree node in use (tree depth increases if too high).", g, float64(b.RootUsagePercent)},
		{"tree_depth", "Depth of the btree.", g, float64(b.TreeDepth)},
		{"active_journal_entries", "Number of journal entries that are newer than the index.", g, float64(b.Internal.ActiveJournalEntries)},
		{"btree_nodes", "Total nodes in the btree.", g, float64(b.Internal.BtreeNodes)},
		// The file is in microseconds; node_exporter 1.5 scales it as if it
		// were nanoseconds (1000 times too small), and dashboards built on
		// it expect that figure, so we keep its scale.
		{"btree_read_average_duration_seconds", "Average btree read duration.", g, float64(b.Internal.BtreeReadAverageDurationMicroSeconds) * 1e-9},
		{"cache_read_races_total", "Counts instances where while data was being read from the cache, the bucket was reused and invalidated - i.e. where the pointer was stale after the read completed.", cnt, float64(b.Internal.CacheReadRaces)},
	})
	for _, d := range s.Bdevs {
		w, t := &d.WritebackRateDebug, &d.Total
		emit("backing_device", d.Name, []bcacheValue{
			{"dirty_data_bytes", "Amount of dirty data for this backing device in the cache.", g, float64(d.DirtyData)},
			{"dirty_target_bytes", "Current dirty data target threshold for this backing device in bytes.", g, float64(w.Target)},
			{"writeback_rate", "Current writeback rate for this backing device in bytes.", g, float64(w.Rate)},
			{"writeback_rate_proportional_term", "Current result of proportional controller, part of writeback rate", g, float64(w.Proportional)},
			{"writeback_rate_integral_term", "Current result of integral controller, part of writeback rate", g, float64(w.Integral)},
			{"writeback_change", "Last writeback rate change step for this backing device.", g, float64(w.Change)},
			{"bypassed_bytes_total", "Amount of IO (both reads and writes) that has bypassed the cache.", cnt, float64(t.Bypassed)},
			{"cache_hits_total", "Hits counted per individual IO as bcache sees them.", cnt, float64(t.CacheHits)},
			{"cache_misses_total", "Misses counted per individual IO as bcache sees them.", cnt, float64(t.CacheMisses)},
			{"cache_bypass_hits_total", "Hits for IO intended to skip the cache.", cnt, float64(t.CacheBypassHits)},
			{"cache_bypass_misses_total", "Misses for IO intended to skip the cache.", cnt, float64(t.CacheBypassMisses)},
			{"cache_miss_collisions_total", "Instances where data insertion from cache miss raced with write (data already present).", cnt, float64(t.CacheMissCollisions)},
			{"cache_readaheads_total", "Count of times readahead occurred.", cnt, float64(t.CacheReadaheads)},
		})
	}
	for _, cd := range s.Caches {
		vals := []bcacheValue{
			{"io_errors", "Number of errors that have occurred, decayed by io_error_halflife.", g, float64(cd.IOErrors)},
			{"metadata_written_bytes_total", "Sum of all non data writes (btree writes and all other metadata).", cnt, float64(cd.MetadataWritten)},
			{"written_bytes_total", "Sum of all data that has been written to the cache.", cnt, float64(cd.Written)},
		}
		if c.cfg.Bcache.PriorityStats {
			vals = append(vals,
				bcacheValue{"priority_stats_unused_percent", "The percentage of the cache that doesn't contain any data.", g, float64(cd.Priority.UnusedPercent)},
				bcacheValue{"priority_stats_metadata_percent", "Bcache's metadata overhead.", g, float64(cd.Priority.MetadataPercent)})
		}
		emit("cache_device", cd.Name, vals)
	}
}
