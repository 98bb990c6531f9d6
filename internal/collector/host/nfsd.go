package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs/nfs"

	"github.com/panoptes-dev/panoptes/internal/collector"
)

func init() { register("nfsd", true, newNFSd) }

// nfsdCollector reports the kernel NFS server's statistics from
// /proc/net/rpc/nfsd (present once nfsd is loaded).
type nfsdCollector struct {
	cfg Config

	requests, rcHits, rcMisses, rcNoCache, stale, bytesRead, bytesWritten, threads,
	raSize, raNotFound, packets, connections, rpcErrors, rpcs collector.TypedDesc
}

func newNFSd(cfg Config, _ *slog.Logger) (collector.Collector, error) {
	d := func(name, help string, t prometheus.ValueType, labels ...string) collector.TypedDesc {
		return collector.NewTypedDesc("nfsd", name, help, t, labels...)
	}
	return &nfsdCollector{
		cfg:          cfg,
		requests:     d("requests_total", "Total number NFSd Requests by method and protocol.", prometheus.CounterValue, "proto", "method"),
		rcHits:       d("reply_cache_hits_total", "Total number of NFSd Reply Cache hits (client lost server response).", prometheus.CounterValue),
		rcMisses:     d("reply_cache_misses_total", "Total number of NFSd Reply Cache an operation that requires caching (idempotent).", prometheus.CounterValue),
		rcNoCache:    d("reply_cache_nocache_total", "Total number of NFSd Reply Cache non-idempotent operations (rename/delete/…).", prometheus.CounterValue),
		stale:        d("file_handles_stale_total", "Total number of NFSd stale file handles", prometheus.CounterValue),
		bytesRead:    d("disk_bytes_read_total", "Total NFSd bytes read.", prometheus.CounterValue),
		bytesWritten: d("disk_bytes_written_total", "Total NFSd bytes written.", prometheus.CounterValue),
		threads:      d("server_threads", "Total number of NFSd kernel threads that are running.", prometheus.GaugeValue),
		raSize:       d("read_ahead_cache_size_blocks", "How large the read ahead cache is in blocks.", prometheus.GaugeValue),
		raNotFound:   d("read_ahead_cache_not_found_total", "Total number of NFSd read ahead cache not found.", prometheus.CounterValue),
		packets:      d("packets_total", "Total NFSd network packets (sent+received) by protocol type.", prometheus.CounterValue, "proto"),
		connections:  d("connections_total", "Total number of NFSd TCP connections.", prometheus.CounterValue),
		rpcErrors:    d("rpc_errors_total", "Total number of NFSd RPC errors by error type.", prometheus.CounterValue, "error"),
		rpcs:         d("server_rpcs_total", "Total number of NFSd RPCs.", prometheus.CounterValue),
	}, nil
}

func (c *nfsdCollector) Update(_ context.Context, ch *collector.Sink) error {
	path := c.cfg.procPath("net", "rpc", "nfsd")
	nfsFS, err := nfs.NewFS(c.cfg.ProcRoot)
	if err != nil {
		return fmt.Errorf("open procfs: %w", err)
	}
	s, err := nfsFS.ServerRPCStats()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// No NFS server module: no data, as node_exporter.
			return fmt.Errorf("read %s: %w: %w", path, collector.ErrNoData, err)
		}
		return fmt.Errorf("read %s: %w", path, err)
	}
	ch.Send(c.rcHits.Metric(float64(s.ReplyCache.Hits)))
	ch.Send(c.rcMisses.Metric(float64(s.ReplyCache.Misses)))
	ch.Send(c.rcNoCache.Metric(float64(s.ReplyCache.NoCache)))
	ch.Send(c.stale.Metric(float64(s.FileHandles.Stale)))
	ch.Send(c.bytesRead.Metric(float64(s.InputOutput.Read)))
	ch.Send(c.bytesWritten.Metric(float64(s.InputOutput.Write)))
	ch.Send(c.threads.Metric(float64(s.Threads.Threads)))
	ch.Send(c.raSize.Metric(float64(s.ReadAheadCache.CacheSize)))
	ch.Send(c.raNotFound.Metric(float64(s.ReadAheadCache.NotFound)))
	ch.Send(c.packets.Metric(float64(s.Network.UDPCount), "udp"))
	ch.Send(c.packets.Metric(float64(s.Network.TCPCount), "tcp"))
	ch.Send(c.connections.Metric(float64(s.Network.TCPConnect)))
	ch.Send(c.rpcErrors.Metric(float64(s.ServerRPC.BadFmt), "fmt"))
	ch.Send(c.rpcErrors.Metric(float64(s.ServerRPC.BadAuth), "auth"))
	ch.Send(c.rpcErrors.Metric(float64(s.ServerRPC.BadcInt), "cInt"))
	ch.Send(c.rpcs.Metric(float64(s.ServerRPC.RPCCount)))

	req := func(proto string, pairs ...any) {
		for i := 0; i+1 < len(pairs); i += 2 {
			ch.Send(c.requests.Metric(float64(pairs[i+1].(uint64)), proto, pairs[i].(string)))
		}
	}
	v2, v3, v4 := &s.V2Stats, &s.V3Stats, &s.V4Ops
	req("2", "GetAttr", v2.GetAttr, "SetAttr", v2.SetAttr, "Root", v2.Root, "Lookup", v2.Lookup,
		"ReadLink", v2.ReadLink, "Read", v2.Read, "WrCache", v2.WrCache, "Write", v2.Write,
		"Create", v2.Create, "Remove", v2.Remove, "Rename", v2.Rename, "Link", v2.Link,
		"SymLink", v2.SymLink, "MkDir", v2.MkDir, "RmDir", v2.RmDir, "ReadDir", v2.ReadDir,
		"FsStat", v2.FsStat)
	req("3", "GetAttr", v3.GetAttr, "SetAttr", v3.SetAttr, "Lookup", v3.Lookup, "Access", v3.Access,
		"ReadLink", v3.ReadLink, "Read", v3.Read, "Write", v3.Write, "Create", v3.Create,
		"MkDir", v3.MkDir, "SymLink", v3.SymLink, "MkNod", v3.MkNod, "Remove", v3.Remove,
		"RmDir", v3.RmDir, "Rename", v3.Rename, "Link", v3.Link, "ReadDir", v3.ReadDir,
		"ReadDirPlus", v3.ReadDirPlus, "FsStat", v3.FsStat, "FsInfo", v3.FsInfo,
		"PathConf", v3.PathConf, "Commit", v3.Commit)
	// node_exporter 1.5's procfs (0.8) had no SETCLIENTID and
	// SETCLIENTID_CONFIRM operations, so its Verify, Write and RelLockOwner
	// are the kernel's operations 36, 37 and 38 (SETCLIENTID,
	// SETCLIENTID_CONFIRM, VERIFY); newer procfs reads them at 38, 39 and 40.
	// We keep 1.5's values so that its dashboards read the same numbers.
	verify, write, relLockOwner := v4.SetClientID, v4.SetClientIDConfirm, v4.Verify
	req("4", "Access", v4.Access, "Close", v4.Close, "Commit", v4.Commit, "Create", v4.Create,
		"DelegPurge", v4.DelegPurge, "DelegReturn", v4.DelegReturn, "GetAttr", v4.GetAttr,
		"GetFH", v4.GetFH, "Link", v4.Link, "Lock", v4.Lock, "Lockt", v4.Lockt, "Locku", v4.Locku,
		"Lookup", v4.Lookup, "LookupRoot", v4.LookupRoot, "Nverify", v4.Nverify, "Open", v4.Open,
		"OpenAttr", v4.OpenAttr, "OpenConfirm", v4.OpenConfirm, "OpenDgrd", v4.OpenDgrd,
		"PutFH", v4.PutFH, "Read", v4.Read, "ReadDir", v4.ReadDir, "ReadLink", v4.ReadLink,
		"Remove", v4.Remove, "Rename", v4.Rename, "Renew", v4.Renew, "RestoreFH", v4.RestoreFH,
		"SaveFH", v4.SaveFH, "SecInfo", v4.SecInfo, "SetAttr", v4.SetAttr, "Verify", verify,
		"Write", write, "RelLockOwner", relLockOwner)
	return nil
}
