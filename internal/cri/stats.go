package cri

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// methodListContainerStats is the CRI call that reports each container's
// writable layer (its share of the image filesystem).
const methodListContainerStats = "/runtime.v1.RuntimeService/ListContainerStats"

// WritableLayer is one container's writable layer as the runtime reports it
// in ListContainerStats, with the names the kubelet needs to find the
// container's log directory.
type WritableLayer struct {
	// ID is the runtime's container ID.
	ID string
	// ContainerName, PodName, Namespace and PodUID come from the kubelet's
	// labels on the container, else from its CRI metadata and its sandbox.
	ContainerName, PodName, Namespace, PodUID string
	// Mountpoint is the filesystem that holds the layer (FilesystemUsage's
	// fs_id), e.g. containerd's snapshotter directory; "" if not reported.
	Mountpoint string
	// UsedBytes and InodesUsed are the layer's usage; nil when the runtime
	// does not report them (it may compute them in the background and
	// answer without them until it has).
	UsedBytes, InodesUsed *uint64
	// Time is when the runtime measured the usage; zero if not reported.
	Time time.Time
}

// criContainerStats is runtime.v1.ContainerStats, as far as it is read.
type criContainerStats struct {
	id       string            // attributes(1).id(1)
	metadata containerMetadata // attributes(1).metadata(2)
	labels   map[string]string // attributes(1).labels(3)
	layer    fsUsage           // writable_layer(4)
	hasLayer bool
}

// fsUsage is runtime.v1.FilesystemUsage.
type fsUsage struct {
	timestamp  int64   // 1, nanoseconds since the epoch
	mountpoint string  // fs_id(2).mountpoint(1)
	usedBytes  *uint64 // used_bytes(3).value(1)
	inodesUsed *uint64 // inodes_used(4).value(1)
}

// decodeListContainerStats decodes a runtime.v1.ListContainerStatsResponse
// (repeated ContainerStats stats = 1).
func decodeListContainerStats(b []byte) ([]criContainerStats, error) {
	return repeated(b, 1, decodeContainerStats)
}

func decodeContainerStats(b []byte, s *criContainerStats) error {
	return walk(b, func(f field) error {
		if f.typ != protowire.BytesType {
			return nil
		}
		switch f.num {
		case 1:
			return decodeContainerAttributes(f.bytes, s)
		case 4:
			s.hasLayer = true
			return decodeFsUsage(f.bytes, &s.layer)
		}
		return nil
	})
}

func decodeContainerAttributes(b []byte, s *criContainerStats) error {
	return walk(b, func(f field) error {
		switch f.num {
		case 1:
			f.str(&s.id)
		case 2:
			if f.typ == protowire.BytesType {
				return decodeContainerMetadata(f.bytes, &s.metadata)
			}
		case 3:
			if f.typ == protowire.BytesType {
				return mapEntry(f.bytes, &s.labels)
			}
		}
		return nil
	})
}

func decodeFsUsage(b []byte, u *fsUsage) error {
	return walk(b, func(f field) error {
		switch f.num {
		case 1:
			if f.typ == protowire.VarintType {
				u.timestamp = int64(f.varint)
			}
		case 2:
			if f.typ == protowire.BytesType {
				return walk(f.bytes, func(f field) error {
					if f.num == 1 {
						f.str(&u.mountpoint)
					}
					return nil
				})
			}
		case 3:
			if f.typ == protowire.BytesType {
				return decodeUInt64Value(f.bytes, &u.usedBytes)
			}
		case 4:
			if f.typ == protowire.BytesType {
				return decodeUInt64Value(f.bytes, &u.inodesUsed)
			}
		}
		return nil
	})
}

// decodeUInt64Value decodes a runtime.v1.UInt64Value: present (even empty,
// meaning 0) sets *dst.
func decodeUInt64Value(b []byte, dst **uint64) error {
	v := uint64(0)
	err := walk(b, func(f field) error {
		if f.num == 1 && f.typ == protowire.VarintType {
			v = f.varint
		}
		return nil
	})
	if err != nil {
		return err
	}
	*dst = &v
	return nil
}

// WritableLayers asks the runtime for every container's writable layer
// (ListContainerStats, without a filter). It bounds the call by Timeout and
// does not touch the name cache, except to fill names that a container's
// labels lack from its sandbox. Containers the runtime reports without a
// writable layer are left out.
func (r *Resolver) WritableLayers(ctx context.Context) ([]WritableLayer, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	conn, _, err := r.connect(ctx)
	if err != nil {
		return nil, err
	}
	stats, err := callDecode(ctx, conn, methodListContainerStats, decodeListContainerStats)
	if err != nil {
		return nil, fmt.Errorf("cri: ListContainerStats: %w", err)
	}
	out := make([]WritableLayer, 0, len(stats))
	for i := range stats {
		s := &stats[i]
		if !s.hasLayer || s.id == "" {
			continue
		}
		w := WritableLayer{
			ID:            s.id,
			ContainerName: first(s.labels[labelContainerName], s.metadata.name),
			PodName:       s.labels[labelPodName],
			Namespace:     s.labels[labelPodNamespace],
			PodUID:        s.labels[labelPodUID],
			Mountpoint:    s.layer.mountpoint,
			UsedBytes:     s.layer.usedBytes,
			InodesUsed:    s.layer.inodesUsed,
		}
		if s.layer.timestamp > 0 {
			w.Time = time.Unix(0, s.layer.timestamp)
		}
		if w.PodName == "" || w.Namespace == "" || w.PodUID == "" {
			// Labels missing: the names the last refresh found for it.
			r.mu.Lock()
			info := r.containers[s.id]
			r.mu.Unlock()
			w.PodName = first(w.PodName, info.PodName)
			w.Namespace = first(w.Namespace, info.Namespace)
			w.PodUID = first(w.PodUID, info.PodUID)
		}
		out = append(out, w)
	}
	return out, nil
}
