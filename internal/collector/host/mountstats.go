package host

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("mountstats", false, newMountstats) }

// float64Mantissa is 2^53: node_exporter reduces millisecond and second
// counters modulo it so that they stay exact as float64.
const float64Mantissa uint64 = 9007199254740992

// mountstatsMount is one per-mount family of node_mountstats_nfs_*, in
// node_exporter's order.
type mountstatsMount struct {
	name, help string
	t          prometheus.ValueType
	get        func(*procfs.MountStatsNFS, *procfs.NFSTransportStats) float64
}

// mountstatsOp is one per-operation family.
type mountstatsOp struct {
	name, help string
	t          prometheus.ValueType
	get        func(*procfs.NFSOperationStats) float64
}

var mountstatsMounts = []mountstatsMount{
	{"age_seconds_total", "The age of the NFS mount in seconds.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 { return s.Age.Seconds() }},
	{"read_bytes_total", "Number of bytes read using the read() syscall.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 { return float64(s.Bytes.Read) }},
	{"write_bytes_total", "Number of bytes written using the write() syscall.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 { return float64(s.Bytes.Write) }},
	{"direct_read_bytes_total", "Number of bytes read using the read() syscall in O_DIRECT mode.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 { return float64(s.Bytes.DirectRead) }},
	{"direct_write_bytes_total", "Number of bytes written using the write() syscall in O_DIRECT mode.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(s.Bytes.DirectWrite)
	}},
	{"total_read_bytes_total", "Number of bytes read from the NFS server, in total.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 { return float64(s.Bytes.ReadTotal) }},
	{"total_write_bytes_total", "Number of bytes written to the NFS server, in total.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 { return float64(s.Bytes.WriteTotal) }},
	{"read_pages_total", "Number of pages read directly via mmap()'d files.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 { return float64(s.Bytes.ReadPages) }},
	{"write_pages_total", "Number of pages written directly via mmap()'d files.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 { return float64(s.Bytes.WritePages) }},
	{"transport_bind_total", "Number of times the client has had to establish a connection from scratch to the NFS server.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 { return float64(t.Bind) }},
	{"transport_connect_total", "Number of times the client has made a TCP connection to the NFS server.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 { return float64(t.Connect) }},
	{"transport_idle_time_seconds", "Duration since the NFS mount last saw any RPC traffic, in seconds.", prometheus.GaugeValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(t.IdleTimeSeconds % float64Mantissa)
	}},
	{"transport_sends_total", "Number of RPC requests for this mount sent to the NFS server.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 { return float64(t.Sends) }},
	{"transport_receives_total", "Number of RPC responses for this mount received from the NFS server.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 { return float64(t.Receives) }},
	{"transport_bad_transaction_ids_total", "Number of times the NFS server sent a response with a transaction ID unknown to this client.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(t.BadTransactionIDs)
	}},
	{"transport_backlog_queue_total", "Total number of items added to the RPC backlog queue.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(t.CumulativeBacklog)
	}},
	{"transport_maximum_rpc_slots", "Maximum number of simultaneously active RPC requests ever used.", prometheus.GaugeValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(t.MaximumRPCSlotsUsed)
	}},
	{"transport_sending_queue_total", "Total number of items added to the RPC transmission sending queue.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(t.CumulativeSendingQueue)
	}},
	{"transport_pending_queue_total", "Total number of items added to the RPC transmission pending queue.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(t.CumulativePendingQueue)
	}},
	{"event_inode_revalidate_total", "Number of times cached inode attributes are re-validated from the server.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(s.Events.InodeRevalidate)
	}},
	{"event_dnode_revalidate_total", "Number of times cached dentry nodes are re-validated from the server.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(s.Events.DnodeRevalidate)
	}},
	{"event_data_invalidate_total", "Number of times an inode cache is cleared.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(s.Events.DataInvalidate)
	}},
	{"event_attribute_invalidate_total", "Number of times cached inode attributes are invalidated.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(s.Events.AttributeInvalidate)
	}},
	{"event_vfs_open_total", "Number of times cached inode attributes are invalidated.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 { return float64(s.Events.VFSOpen) }},
	{"event_vfs_lookup_total", "Number of times a directory lookup has occurred.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 { return float64(s.Events.VFSLookup) }},
	{"event_vfs_access_total", "Number of times permissions have been checked.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 { return float64(s.Events.VFSAccess) }},
	{"event_vfs_update_page_total", "Number of updates (and potential writes) to pages.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(s.Events.VFSUpdatePage)
	}},
	{"event_vfs_read_page_total", "Number of pages read directly via mmap()'d files.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(s.Events.VFSReadPage)
	}},
	{"event_vfs_read_pages_total", "Number of times a group of pages have been read.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(s.Events.VFSReadPages)
	}},
	{"event_vfs_write_page_total", "Number of pages written directly via mmap()'d files.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(s.Events.VFSWritePage)
	}},
	{"event_vfs_write_pages_total", "Number of times a group of pages have been written.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(s.Events.VFSWritePages)
	}},
	{"event_vfs_getdents_total", "Number of times directory entries have been read with getdents().", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(s.Events.VFSGetdents)
	}},
	{"event_vfs_setattr_total", "Number of times directory entries have been read with getdents().", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(s.Events.VFSSetattr)
	}},
	{"event_vfs_flush_total", "Number of pending writes that have been forcefully flushed to the server.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 { return float64(s.Events.VFSFlush) }},
	{"event_vfs_fsync_total", "Number of times fsync() has been called on directories and files.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 { return float64(s.Events.VFSFsync) }},
	{"event_vfs_lock_total", "Number of times locking has been attempted on a file.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 { return float64(s.Events.VFSLock) }},
	{"event_vfs_file_release_total", "Number of times files have been closed and released.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(s.Events.VFSFileRelease)
	}},
	{"event_truncation_total", "Number of times files have been truncated.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(s.Events.Truncation)
	}},
	{"event_write_extension_total", "Number of times a file has been grown due to writes beyond its existing end.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(s.Events.WriteExtension)
	}},
	{"event_silly_rename_total", "Number of times a file was removed while still open by another process.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(s.Events.SillyRename)
	}},
	{"event_short_read_total", "Number of times the NFS server gave less data than expected while reading.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 { return float64(s.Events.ShortRead) }},
	{"event_short_write_total", "Number of times the NFS server wrote less data than expected while writing.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(s.Events.ShortWrite)
	}},
	{"event_jukebox_delay_total", "Number of times the NFS server indicated EJUKEBOX; retrieving data from offline storage.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 {
		return float64(s.Events.JukeboxDelay)
	}},
	{"event_pnfs_read_total", "Number of NFS v4.1+ pNFS reads.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 { return float64(s.Events.PNFSRead) }},
	{"event_pnfs_write_total", "Number of NFS v4.1+ pNFS writes.", prometheus.CounterValue, func(s *procfs.MountStatsNFS, t *procfs.NFSTransportStats) float64 { return float64(s.Events.PNFSWrite) }},
}

var mountstatsOps = []mountstatsOp{
	{"operations_requests_total", "Number of requests performed for a given operation.", prometheus.CounterValue, func(op *procfs.NFSOperationStats) float64 { return float64(op.Requests) }},
	{"operations_transmissions_total", "Number of times an actual RPC request has been transmitted for a given operation.", prometheus.CounterValue, func(op *procfs.NFSOperationStats) float64 { return float64(op.Transmissions) }},
	{"operations_major_timeouts_total", "Number of times a request has had a major timeout for a given operation.", prometheus.CounterValue, func(op *procfs.NFSOperationStats) float64 { return float64(op.MajorTimeouts) }},
	{"operations_sent_bytes_total", "Number of bytes sent for a given operation, including RPC headers and payload.", prometheus.CounterValue, func(op *procfs.NFSOperationStats) float64 { return float64(op.BytesSent) }},
	{"operations_received_bytes_total", "Number of bytes received for a given operation, including RPC headers and payload.", prometheus.CounterValue, func(op *procfs.NFSOperationStats) float64 { return float64(op.BytesReceived) }},
	{"operations_queue_time_seconds_total", "Duration all requests spent queued for transmission for a given operation before they were sent, in seconds.", prometheus.CounterValue, func(op *procfs.NFSOperationStats) float64 {
		return float64(op.CumulativeQueueMilliseconds%float64Mantissa) / 1000
	}},
	{"operations_response_time_seconds_total", "Duration all requests took to get a reply back after a request for a given operation was transmitted, in seconds.", prometheus.CounterValue, func(op *procfs.NFSOperationStats) float64 {
		return float64(op.CumulativeTotalResponseMilliseconds%float64Mantissa) / 1000
	}},
	{"operations_request_time_seconds_total", "Duration all requests took from when a request was enqueued to when it was completely handled for a given operation, in seconds.", prometheus.CounterValue, func(op *procfs.NFSOperationStats) float64 {
		return float64(op.CumulativeTotalRequestMilliseconds%float64Mantissa) / 1000
	}},
}

// mountstatsCollector reports NFS client mounts from /proc/self/mountstats,
// with the server address from the same mount's line of
// /proc/self/mountinfo (both list mounts in the same order).
type mountstatsCollector struct {
	cfg        Config
	logger     *slog.Logger
	mountDescs []collector.TypedDesc
	opDescs    []collector.TypedDesc
}

func newMountstats(cfg Config, logger *slog.Logger) (collector.Collector, error) {
	c := &mountstatsCollector{cfg: cfg, logger: logger}
	for _, m := range mountstatsMounts {
		c.mountDescs = append(c.mountDescs, collector.NewTypedDesc("mountstats_nfs", m.name, m.help, m.t, "export", "protocol", "mountaddr"))
	}
	for _, m := range mountstatsOps {
		c.opDescs = append(c.opDescs, collector.NewTypedDesc("mountstats_nfs", m.name, m.help, m.t, "export", "protocol", "mountaddr", "operation"))
	}
	return c, nil
}

// nfsMountKey identifies an NFS mount for de-duplication: the same export
// mounted twice shares one RPC client, and so the same statistics.
type nfsMountKey struct{ export, protocol, addr string }

func (c *mountstatsCollector) Update(_ context.Context, ch *collector.Sink) error {
	pfs, err := c.cfg.procFS()
	if err != nil {
		return err
	}
	self, err := pfs.Self()
	if err != nil {
		return fmt.Errorf("open %s: %w", c.cfg.procPath("self"), err)
	}
	mounts, err := self.MountStats()
	if err != nil {
		return fmt.Errorf("parse %s: %w", c.cfg.procPath("self", "mountstats"), err)
	}
	infos, err := self.MountInfo()
	if err != nil {
		return fmt.Errorf("parse %s: %w", c.cfg.procPath("self", "mountinfo"), err)
	}
	seen := map[nfsMountKey]bool{}
	for i, m := range mounts {
		s, ok := m.Stats.(*procfs.MountStatsNFS)
		if !ok {
			continue // only NFS mounts have statistics
		}
		var addr string
		if i < len(infos) {
			addr = infos[i].SuperOptions["addr"]
		}
		// procfs lists one transport per xprt line (nconnect); node_exporter
		// 1.5's procfs kept the last one.
		var t procfs.NFSTransportStats
		if n := len(s.Transport); n > 0 {
			t = s.Transport[n-1]
		}
		key := nfsMountKey{m.Device, t.Protocol, addr}
		if seen[key] {
			continue
		}
		seen[key] = true
		for j, f := range mountstatsMounts {
			ch.Send(c.mountDescs[j].Metric(f.get(s, &t), key.export, key.protocol, key.addr))
		}
		for _, op := range s.Operations {
			for j, f := range mountstatsOps {
				ch.Send(c.opDescs[j].Metric(f.get(&op), key.export, key.protocol, key.addr, op.Operation))
			}
		}
	}
	return nil
}
