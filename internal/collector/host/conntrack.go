package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("conntrack", true, newConntrack) }

type conntrackCollector struct {
	cfg                                          Config
	entries, limit                               collector.TypedDesc
	found, invalid, ignore, insert, insertFailed collector.TypedDesc
	drop, earlyDrop, searchRestart               collector.TypedDesc
}

func newConntrack(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	g := prometheus.GaugeValue
	return &conntrackCollector{
		cfg:           cfg,
		entries:       collector.NewTypedDesc("", "nf_conntrack_entries", "Number of currently allocated flow entries for connection tracking.", g),
		limit:         collector.NewTypedDesc("", "nf_conntrack_entries_limit", "Maximum size of connection tracking table.", g),
		found:         collector.NewTypedDesc("", "nf_conntrack_stat_found", "Number of searched entries which were successful.", g),
		invalid:       collector.NewTypedDesc("", "nf_conntrack_stat_invalid", "Number of packets seen which can not be tracked.", g),
		ignore:        collector.NewTypedDesc("", "nf_conntrack_stat_ignore", "Number of packets seen which are already connected to a conntrack entry.", g),
		insert:        collector.NewTypedDesc("", "nf_conntrack_stat_insert", "Number of entries inserted into the list.", g),
		insertFailed:  collector.NewTypedDesc("", "nf_conntrack_stat_insert_failed", "Number of entries for which list insertion was attempted but failed.", g),
		drop:          collector.NewTypedDesc("", "nf_conntrack_stat_drop", "Number of packets dropped due to conntrack failure.", g),
		earlyDrop:     collector.NewTypedDesc("", "nf_conntrack_stat_early_drop", "Number of dropped conntrack entries to make room for new ones, if maximum table size was reached.", g),
		searchRestart: collector.NewTypedDesc("", "nf_conntrack_stat_search_restart", "Number of conntrack table lookups which had to be restarted due to hashtable resizes.", g),
	}, nil
}

// Update reports the table size and limit, then the per-CPU statistics
// summed. Like node_exporter, a missing file means the conntrack module is
// not loaded: no data rather than a failure (what was read before it is
// still reported).
func (c *conntrackCollector) Update(_ context.Context, ch *collector.Sink) error {
	countPath := c.cfg.procPath("sys", "net", "netfilter", "nf_conntrack_count")
	count, err := readUint(countPath)
	if err != nil {
		return conntrackErr(countPath, err)
	}
	ch.Send(c.entries.Metric(float64(count)))

	maxPath := c.cfg.procPath("sys", "net", "netfilter", "nf_conntrack_max")
	limit, err := readUint(maxPath)
	if err != nil {
		return conntrackErr(maxPath, err)
	}
	ch.Send(c.limit.Metric(float64(limit)))

	statPath := c.cfg.procPath("net", "stat", "nf_conntrack")
	pfs, err := c.cfg.procFS()
	if err != nil {
		return err
	}
	stats, err := pfs.ConntrackStat()
	if err != nil {
		return conntrackErr(statPath, err)
	}
	var found, invalid, ignore, insert, insertFailed, drop, earlyDrop, searchRestart uint64
	for _, s := range stats {
		found += s.Found
		invalid += s.Invalid
		ignore += s.Ignore
		insert += s.Insert
		insertFailed += s.InsertFailed
		drop += s.Drop
		earlyDrop += s.EarlyDrop
		searchRestart += s.SearchRestart
	}
	ch.Send(c.found.Metric(float64(found)))
	ch.Send(c.invalid.Metric(float64(invalid)))
	ch.Send(c.ignore.Metric(float64(ignore)))
	ch.Send(c.insert.Metric(float64(insert)))
	ch.Send(c.insertFailed.Metric(float64(insertFailed)))
	ch.Send(c.drop.Metric(float64(drop)))
	ch.Send(c.earlyDrop.Metric(float64(earlyDrop)))
	ch.Send(c.searchRestart.Metric(float64(searchRestart)))
	return nil
}

func conntrackErr(path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: conntrack module not loaded: %w", path, collector.ErrNoData)
	}
	return fmt.Errorf("read %s: %w", path, err)
}
