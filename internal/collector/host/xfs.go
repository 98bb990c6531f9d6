package host

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs/xfs"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("xfs", true, newXFS) }

// xfsStat is one counter of an XFS file system's
// /sys/fs/xfs/<device>/stats/stats, named as node_exporter names it (after
// the categories of the XFS wiki's Runtime_Stats page).
type xfsStat struct {
	name, help string
	get        func(*xfs.Stats) uint32
}

var xfsStats = []xfsStat{
	{"extent_allocation_extents_allocated_total", "Number of extents allocated for a filesystem.", func(s *xfs.Stats) uint32 { return s.ExtentAllocation.ExtentsAllocated }},
	{"extent_allocation_blocks_allocated_total", "Number of blocks allocated for a filesystem.", func(s *xfs.Stats) uint32 { return s.ExtentAllocation.BlocksAllocated }},
	{"extent_allocation_extents_freed_total", "Number of extents freed for a filesystem.", func(s *xfs.Stats) uint32 { return s.ExtentAllocation.ExtentsFreed }},
	{"extent_allocation_blocks_freed_total", "Number of blocks freed for a filesystem.", func(s *xfs.Stats) uint32 { return s.ExtentAllocation.BlocksFreed }},
	{"allocation_btree_lookups_total", "Number of allocation B-tree lookups for a filesystem.", func(s *xfs.Stats) uint32 { return s.AllocationBTree.Lookups }},
	{"allocation_btree_compares_total", "Number of allocation B-tree compares for a filesystem.", func(s *xfs.Stats) uint32 { return s.AllocationBTree.Compares }},
	{"allocation_btree_records_inserted_total", "Number of allocation B-tree records inserted for a filesystem.", func(s *xfs.Stats) uint32 { return s.AllocationBTree.RecordsInserted }},
	{"allocation_btree_records_deleted_total", "Number of allocation B-tree records deleted for a filesystem.", func(s *xfs.Stats) uint32 { return s.AllocationBTree.RecordsDeleted }},
	{"block_mapping_reads_total", "Number of block map for read operations for a filesystem.", func(s *xfs.Stats) uint32 { return s.BlockMapping.Reads }},
	{"block_mapping_writes_total", "Number of block map for write operations for a filesystem.", func(s *xfs.Stats) uint32 { return s.BlockMapping.Writes }},
	{"block_mapping_unmaps_total", "Number of block unmaps (deletes) for a filesystem.", func(s *xfs.Stats) uint32 { return s.BlockMapping.Unmaps }},
	{"block_mapping_extent_list_insertions_total", "Number of extent list insertions for a filesystem.", func(s *xfs.Stats) uint32 { return s.BlockMapping.ExtentListInsertions }},
	{"block_mapping_extent_list_deletions_total", "Number of extent list deletions for a filesystem.", func(s *xfs.Stats) uint32 { return s.BlockMapping.ExtentListDeletions }},
	{"block_mapping_extent_list_lookups_total", "Number of extent list lookups for a filesystem.", func(s *xfs.Stats) uint32 { return s.BlockMapping.ExtentListLookups }},
	{"block_mapping_extent_list_compares_total", "Number of extent list compares for a filesystem.", func(s *xfs.Stats) uint32 { return s.BlockMapping.ExtentListCompares }},
	{"block_map_btree_lookups_total", "Number of block map B-tree lookups for a filesystem.", func(s *xfs.Stats) uint32 { return s.BlockMapBTree.Lookups }},
	{"block_map_btree_compares_total", "Number of block map B-tree compares for a filesystem.", func(s *xfs.Stats) uint32 { return s.BlockMapBTree.Compares }},
	{"block_map_btree_records_inserted_total", "Number of block map B-tree records inserted for a filesystem.", func(s *xfs.Stats) uint32 { return s.BlockMapBTree.RecordsInserted }},
	{"block_map_btree_records_deleted_total", "Number of block map B-tree records deleted for a filesystem.", func(s *xfs.Stats) uint32 { return s.BlockMapBTree.RecordsDeleted }},
	{"directory_operation_lookup_total", "Number of file name directory lookups which miss the operating systems directory name lookup cache.", func(s *xfs.Stats) uint32 { return s.DirectoryOperation.Lookups }},
	{"directory_operation_create_total", "Number of times a new directory entry was created for a filesystem.", func(s *xfs.Stats) uint32 { return s.DirectoryOperation.Creates }},
	{"directory_operation_remove_total", "Number of times an existing directory entry was created for a filesystem.", func(s *xfs.Stats) uint32 { return s.DirectoryOperation.Removes }},
	{"directory_operation_getdents_total", "Number of times the directory getdents operation was performed for a filesystem.", func(s *xfs.Stats) uint32 { return s.DirectoryOperation.Getdents }},
	{"inode_operation_attempts_total", "Number of times the OS looked for an XFS inode in the inode cache.", func(s *xfs.Stats) uint32 { return s.InodeOperation.Attempts }},
	{"inode_operation_found_total", "Number of times the OS looked for and found an XFS inode in the inode cache.", func(s *xfs.Stats) uint32 { return s.InodeOperation.Found }},
	{"inode_operation_recycled_total", "Number of times the OS found an XFS inode in the cache, but could not use it as it was being recycled.", func(s *xfs.Stats) uint32 { return s.InodeOperation.Recycle }},
	{"inode_operation_missed_total", "Number of times the OS looked for an XFS inode in the cache, but did not find it.", func(s *xfs.Stats) uint32 { return s.InodeOperation.Missed }},
	{"inode_operation_duplicates_total", "Number of times the OS tried to add a missing XFS inode to the inode cache, but found it had already been added by another process.", func(s *xfs.Stats) uint32 { return s.InodeOperation.Duplicate }},
	{"inode_operation_reclaims_total", "Number of times the OS reclaimed an XFS inode from the inode cache to free memory for another purpose.", func(s *xfs.Stats) uint32 { return s.InodeOperation.Reclaims }},
	{"inode_operation_attribute_changes_total", "Number of times the OS explicitly changed the attributes of an XFS inode.", func(s *xfs.Stats) uint32 { return s.InodeOperation.AttributeChange }},
	{"read_calls_total", "Number of read(2) system calls made to files in a filesystem.", func(s *xfs.Stats) uint32 { return s.ReadWrite.Read }},
	{"write_calls_total", "Number of write(2) system calls made to files in a filesystem.", func(s *xfs.Stats) uint32 { return s.ReadWrite.Write }},
	{"vnode_active_total", "Number of vnodes not on free lists for a filesystem.", func(s *xfs.Stats) uint32 { return s.Vnode.Active }},
	{"vnode_allocate_total", "Number of times vn_alloc called for a filesystem.", func(s *xfs.Stats) uint32 { return s.Vnode.Allocate }},
	{"vnode_get_total", "Number of times vn_get called for a filesystem.", func(s *xfs.Stats) uint32 { return s.Vnode.Get }},
	{"vnode_hold_total", "Number of times vn_hold called for a filesystem.", func(s *xfs.Stats) uint32 { return s.Vnode.Hold }},
	{"vnode_release_total", "Number of times vn_rele called for a filesystem.", func(s *xfs.Stats) uint32 { return s.Vnode.Release }},
	{"vnode_reclaim_total", "Number of times vn_reclaim called for a filesystem.", func(s *xfs.Stats) uint32 { return s.Vnode.Reclaim }},
	{"vnode_remove_total", "Number of times vn_remove called for a filesystem.", func(s *xfs.Stats) uint32 { return s.Vnode.Remove }},
}

// xfsCollector reports per-filesystem XFS statistics. A host without XFS
// file systems reports nothing, successfully, as node_exporter does.
type xfsCollector struct {
	cfg   Config
	descs []collector.TypedDesc
}

func newXFS(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	c := &xfsCollector{cfg: cfg}
	for _, s := range xfsStats {
		c.descs = append(c.descs, collector.NewTypedDesc("xfs", s.name, s.help, prometheus.CounterValue, "device"))
	}
	return c, nil
}

func (c *xfsCollector) Update(_ context.Context, ch *collector.Sink) error {
	xfsFS, err := xfs.NewFS(c.cfg.ProcRoot, c.cfg.SysRoot)
	if err != nil {
		return fmt.Errorf("open sysfs: %w", err)
	}
	stats, err := xfsFS.SysStats()
	if err != nil {
		return fmt.Errorf("read %s: %w", c.cfg.sysPath("fs", "xfs", "*", "stats", "stats"), err)
	}
	for _, s := range stats {
		for i, st := range xfsStats {
			ch.Send(c.descs[i].Metric(float64(st.get(s)), s.Name))
		}
	}
	return nil
}
