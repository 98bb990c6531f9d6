package cri

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// statsRuntime is a fakeRuntime that also answers ListContainerStats.
type statsRuntime struct {
	*fakeRuntime
	stats []*runtimeapi.ContainerStats
}

func (s *statsRuntime) ListContainerStats(context.Context, *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	return &runtimeapi.ListContainerStatsResponse{Stats: s.stats}, nil
}

func init() {
	// The fuzz test compares the decoded stats with cmp.
	cmpOpts = append(cmpOpts, cmp.AllowUnexported(criContainerStats{}, fsUsage{}))
}

const snapshotter = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs"

func layerStats(c *runtimeapi.Container, used, inodes *runtimeapi.UInt64Value, ts int64) *runtimeapi.ContainerStats {
	return &runtimeapi.ContainerStats{
		Attributes: &runtimeapi.ContainerAttributes{Id: c.Id, Metadata: c.Metadata, Labels: c.Labels},
		Cpu:        &runtimeapi.CpuUsage{Timestamp: ts, UsageCoreNanoSeconds: &runtimeapi.UInt64Value{Value: 12345}},
		WritableLayer: &runtimeapi.FilesystemUsage{
			Timestamp:  ts,
			FsId:       &runtimeapi.FilesystemIdentifier{Mountpoint: snapshotter},
			UsedBytes:  used,
			InodesUsed: inodes,
		},
	}
}

func TestWritableLayers(t *testing.T) {
	t.Parallel()
	f := newFake("containerd")
	ts := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC).UnixNano()
	nolabels := f.containers[2] // postgres: names only from the sandbox
	nolabels.Labels = nil
	srv := &statsRuntime{fakeRuntime: f, stats: []*runtimeapi.ContainerStats{
		layerStats(f.containers[0], &runtimeapi.UInt64Value{Value: 40960}, &runtimeapi.UInt64Value{Value: 7}, ts),
		layerStats(f.containers[1], &runtimeapi.UInt64Value{}, &runtimeapi.UInt64Value{}, ts), // 0 is a value
		layerStats(nolabels, nil, nil, 0),                                     // not measured yet
		{Attributes: &runtimeapi.ContainerAttributes{Id: f.containers[3].Id}}, // no writable layer: left out
	}}
	r := New(Config{Endpoints: []string{serveStats(t, srv)}}, nil)
	defer r.Close()
	ctx := context.Background()
	// The sandbox names come from the resolver's cache.
	if _, ok := r.Lookup(ctx, nolabels.Id); !ok {
		t.Fatal("lookup failed")
	}
	got, err := r.WritableLayers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u := func(v uint64) *uint64 { return &v }
	at := time.Unix(0, ts)
	want := []WritableLayer{
		{ID: f.containers[0].Id, ContainerName: "nginx", PodName: "web-0", Namespace: "shop", PodUID: "uid-web",
			Mountpoint: snapshotter, UsedBytes: u(40960), InodesUsed: u(7), Time: at},
		{ID: f.containers[1].Id, ContainerName: "sidecar", PodName: "web-0", Namespace: "shop", PodUID: "uid-web",
			Mountpoint: snapshotter, UsedBytes: u(0), InodesUsed: u(0), Time: at},
		{ID: nolabels.Id, ContainerName: "postgres", PodName: "db-0", Namespace: "data", PodUID: "uid-db",
			Mountpoint: snapshotter},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestWritableLayersUnimplemented(t *testing.T) {
	t.Parallel()
	// A runtime without ListContainerStats: an error naming the call.
	r := New(Config{Endpoints: []string{serve(t, newFake("containerd"), nil)}}, nil)
	defer r.Close()
	_, err := r.WritableLayers(context.Background())
	wantStatus(t, err, 12, "method ListContainerStats not implemented")
}

func serveStats(t *testing.T, s *statsRuntime) string {
	t.Helper()
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, s)
	return serveSocket(t, func(l net.Listener) { _ = srv.Serve(l) }, srv.Stop)
}

func FuzzDecodeListContainerStats(f *testing.F) {
	fr := newFake("containerd")
	seed := &runtimeapi.ListContainerStatsResponse{Stats: []*runtimeapi.ContainerStats{
		layerStats(fr.containers[0], &runtimeapi.UInt64Value{Value: 40960}, &runtimeapi.UInt64Value{Value: 7}, 1),
		layerStats(fr.containers[1], nil, nil, 0),
	}}
	fuzzDecode(f, []*runtimeapi.ListContainerStatsResponse{seed},
		func() *runtimeapi.ListContainerStatsResponse { return new(runtimeapi.ListContainerStatsResponse) },
		decodeListContainerStats, fromContainerStats)
}

// fromContainerStats is what decodeListContainerStats should read from a
// message the protobuf runtime decoded.
func fromContainerStats(m *runtimeapi.ListContainerStatsResponse) []criContainerStats {
	var out []criContainerStats
	for _, s := range m.Stats {
		cs := criContainerStats{
			id:       s.GetAttributes().GetId(),
			metadata: containerMetadata{name: s.GetAttributes().GetMetadata().GetName(), attempt: s.GetAttributes().GetMetadata().GetAttempt()},
			labels:   s.GetAttributes().GetLabels(),
		}
		if l := s.WritableLayer; l != nil {
			cs.hasLayer = true
			cs.layer = fsUsage{timestamp: l.Timestamp, mountpoint: l.GetFsId().GetMountpoint()}
			if l.UsedBytes != nil {
				cs.layer.usedBytes = &l.UsedBytes.Value
			}
			if l.InodesUsed != nil {
				cs.layer.inodesUsed = &l.InodesUsed.Value
			}
		}
		out = append(out, cs)
	}
	return out
}
