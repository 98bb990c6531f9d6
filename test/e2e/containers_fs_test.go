package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/panoptes-dev/panoptes/internal/testkit/cgroup"
)

// The containers' disk use, end to end: a CRI runtime in the test answers
// ListContainerStats from a real writable-layer directory it measures with
// du (as containerd measures its snapshots), the kubelet's log directory is
// real, and the agent's container_fs_* and /stats/summary must match du of
// those directories.
//
// Debian's containerd (1.6.20) does start here as root on cgroup v1, with
// its CRI plugin, but cannot run a pod: the sandbox needs the pause image
// from a registry this machine cannot reach, and there is no CNI
// configuration. Hence the runtime in the test.

// fsRuntime is kpRuntime plus ListContainerStats.
type fsRuntime struct {
	*kpRuntime
	layerRoot string // host path reported as the layers' fs_id
	layers    map[string]string
}

func (r *fsRuntime) ListContainerStats(ctx context.Context, _ *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	r.mu.Lock()
	cs := append([]*runtimeapi.Container(nil), r.containers...)
	r.mu.Unlock()
	out := &runtimeapi.ListContainerStatsResponse{}
	for _, c := range cs {
		dir, ok := r.layers[c.Id]
		if !ok {
			continue
		}
		bytes, inodes, err := duDir(ctx, dir)
		if err != nil {
			return nil, err
		}
		out.Stats = append(out.Stats, &runtimeapi.ContainerStats{
			Attributes: &runtimeapi.ContainerAttributes{Id: c.Id, Metadata: c.Metadata, Labels: c.Labels},
			WritableLayer: &runtimeapi.FilesystemUsage{
				Timestamp:  time.Now().UnixNano(),
				FsId:       &runtimeapi.FilesystemIdentifier{Mountpoint: r.layerRoot},
				UsedBytes:  &runtimeapi.UInt64Value{Value: bytes},
				InodesUsed: &runtimeapi.UInt64Value{Value: inodes},
			},
		})
	}
	return out, nil
}

// duDir runs the real du: allocated bytes and inodes, on one filesystem.
func duDir(ctx context.Context, dir string) (bytes, inodes uint64, err error) {
	run := func(arg string) (uint64, error) {
		out, err := exec.CommandContext(ctx, "du", "-sx", arg, dir).Output()
		if err != nil {
			return 0, fmt.Errorf("du %s %s: %w", arg, dir, err)
		}
		return strconv.ParseUint(strings.Fields(string(out))[0], 10, 64)
	}
	if bytes, err = run("--block-size=1"); err != nil {
		return 0, 0, err
	}
	inodes, err = run("--inodes")
	return bytes, inodes, err
}

func mustDu(t *testing.T, dir string) (uint64, uint64) {
	t.Helper()
	b, n, err := duDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return b, n
}

func writeBytes(t *testing.T, path string, n int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Repeat("l", n)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestContainerFsUsage(t *testing.T) {
	cgroup.RequireRoot(t)
	if _, err := exec.LookPath("du"); err != nil {
		t.Fatal("du (coreutils) is missing")
	}
	root := t.TempDir() // the agent's --path.rootfs
	uid := fmt.Sprintf("%s-%s-%s-%s-%s", randomHex(t, 4), randomHex(t, 2), randomHex(t, 2), randomHex(t, 2), randomHex(t, 6))
	id := randomHex(t, 32)
	const layerRoot = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs"
	layer := filepath.Join(root, layerRoot, "snapshots", "42", "fs")
	writeBytes(t, filepath.Join(layer, "tmp", "cache.bin"), 300_001)
	writeBytes(t, filepath.Join(layer, "etc", "app.conf"), 17)
	podLogDir := filepath.Join(root, "var/log/pods", "shop_web-0_"+uid)
	logDir := filepath.Join(podLogDir, "app")
	writeBytes(t, filepath.Join(logDir, "0.log"), 123_456)
	writeBytes(t, filepath.Join(logDir, "0.log.20261205-120000.gz"), 4321)
	writeBytes(t, filepath.Join(podLogDir, "pod.log"), 999) // a pod-level log

	rt := &fsRuntime{kpRuntime: &kpRuntime{}, layerRoot: layerRoot, layers: map[string]string{id: layer}}
	rt.add(t, "shop", "web-0", uid, "app", id)
	sock := serveFsRuntime(t, rt)
	_, base := startAgent(t, "--container-runtime-endpoint="+sock, "--path.rootfs="+root,
		"--volume-stats-agg-period=1h", "--web.enable-kubelet-endpoints")

	layerBytes, layerInodes := mustDu(t, layer)
	logBytes, logInodes := mustDu(t, logDir)
	podLogBytes, _ := mustDu(t, filepath.Join(podLogDir, "pod.log"))
	t.Logf("du: layer %d B %d inodes, logs %d B %d inodes, pod log %d B", layerBytes, layerInodes, logBytes, logInodes, podLogBytes)

	// The first scrape starts the measurement; wait for its result.
	cgroupID := "/kubepods/burstable/pod" + uid + "/" + id
	var usage float64
	deadline := time.Now().Add(60 * time.Second)
	for {
		mfs := scrape(t, base+"/metrics")
		if v, ok := seriesValue(mfs["container_fs_usage_bytes"], "id", cgroupID); ok {
			usage = v
			if limit, ok := seriesValue(mfs["container_fs_limit_bytes"], "id", cgroupID); !ok || limit < usage {
				t.Errorf("container_fs_limit_bytes = %v (present %v), want the filesystem's size", limit, ok)
			}
			for _, name := range []string{"container_fs_inodes_free", "container_fs_inodes_total"} {
				if _, ok := seriesValue(mfs[name], "id", cgroupID); !ok {
					t.Errorf("no %s for the container", name)
				}
			}
			if c, _ := seriesValue(mfs["container_fs_usage_bytes"], "container", "app"); c != usage {
				t.Errorf("container_fs_usage_bytes lacks the CRI's names (container=app)")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no container_fs_usage_bytes for the container after 60 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if want := float64(layerBytes + logBytes); usage != want {
		t.Errorf("container_fs_usage_bytes = %.0f, want du(layer) + du(logs) = %.0f", usage, want)
	}

	// The kubelet's summary: rootfs, logs, ephemeral-storage.
	_, b := get(t, base+"/stats/summary")
	var s struct {
		Pods []struct {
			PodRef     struct{ UID string }
			Containers []struct {
				Name         string
				Rootfs, Logs *struct{ UsedBytes, InodesUsed, CapacityBytes *uint64 }
			}
			Ephemeral *struct{ UsedBytes, InodesUsed *uint64 } `json:"ephemeral-storage"`
		}
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("summary: %v\n%s", err, b)
	}
	found := false
	for _, p := range s.Pods {
		if p.PodRef.UID != uid {
			continue
		}
		found = true
		if len(p.Containers) != 1 || p.Containers[0].Rootfs == nil || p.Containers[0].Logs == nil {
			t.Fatalf("pod's containers: %s", b)
		}
		c := p.Containers[0]
		if *c.Rootfs.UsedBytes != layerBytes || *c.Rootfs.InodesUsed != layerInodes {
			t.Errorf("rootfs = %d B %d inodes, want du's %d, %d", *c.Rootfs.UsedBytes, *c.Rootfs.InodesUsed, layerBytes, layerInodes)
		}
		if *c.Logs.UsedBytes != logBytes || *c.Logs.InodesUsed != logInodes {
			t.Errorf("logs = %d B %d inodes, want du's %d, %d", *c.Logs.UsedBytes, *c.Logs.InodesUsed, logBytes, logInodes)
		}
		if e := p.Ephemeral; e == nil || *e.UsedBytes != layerBytes+logBytes+podLogBytes {
			t.Errorf("ephemeral-storage = %+v, want %d", e, layerBytes+logBytes+podLogBytes)
		}
	}
	if !found {
		t.Fatalf("pod %s not in the summary:\n%s", uid, b)
	}

	// Measured once per period, not per scrape: more logs do not show
	// before the next measurement (an hour away).
	writeBytes(t, filepath.Join(logDir, "1.log"), 1<<20)
	if v, _ := seriesValue(scrape(t, base+"/metrics")["container_fs_usage_bytes"], "id", cgroupID); v != usage {
		t.Errorf("container_fs_usage_bytes moved from %.0f to %.0f between measurements: measured per scrape", usage, v)
	}
}

func serveFsRuntime(t *testing.T, r *fsRuntime) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cri") // t.TempDir may pass the 108-byte socket path limit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "runtime.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, r)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return sock
}
