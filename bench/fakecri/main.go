// Command fakecri is a CRI runtime service for bench/containers.sh: it names
// the benchmark's cgroup containers (ListPodSandbox, ListContainers) and
// reports their writable layers (ListContainerStats) from a manifest, as
// containerd answers from the snapshot usage it keeps. It runs no
// containers.
//
// Manifest lines: <pod uid> <container id> <namespace> <pod> <container>
// <layer bytes> <layer inodes>.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

type runtime struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	sandboxes  []*runtimeapi.PodSandbox
	containers []*runtimeapi.Container
	stats      []*runtimeapi.ContainerStats
}

func (r *runtime) Version(context.Context, *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{Version: "0.1.0", RuntimeName: "containerd", RuntimeVersion: "v2.1.0", RuntimeApiVersion: "v1"}, nil
}

func (r *runtime) ListPodSandbox(context.Context, *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	return &runtimeapi.ListPodSandboxResponse{Items: r.sandboxes}, nil
}

func (r *runtime) ListContainers(context.Context, *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	return &runtimeapi.ListContainersResponse{Containers: r.containers}, nil
}

func (r *runtime) ListContainerStats(context.Context, *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	now := time.Now().UnixNano()
	for _, s := range r.stats {
		s.WritableLayer.Timestamp = now
	}
	return &runtimeapi.ListContainerStatsResponse{Stats: r.stats}, nil
}

// load reads the manifest.
func load(path, layerRoot string) (*runtime, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := &runtime{}
	pods := map[string]string{} // uid -> sandbox id
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) != 7 {
			return nil, fmt.Errorf("%s: bad line %q", path, sc.Text())
		}
		uid, id, ns, pod, name := fl[0], fl[1], fl[2], fl[3], fl[4]
		used, err1 := strconv.ParseUint(fl[5], 10, 64)
		inodes, err2 := strconv.ParseUint(fl[6], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: bad numbers in %q", path, sc.Text())
		}
		podLabels := map[string]string{"io.kubernetes.pod.name": pod, "io.kubernetes.pod.namespace": ns, "io.kubernetes.pod.uid": uid}
		sb, ok := pods[uid]
		if !ok {
			sb = fmt.Sprintf("%064x", len(pods)+1)
			pods[uid] = sb
			r.sandboxes = append(r.sandboxes, &runtimeapi.PodSandbox{Id: sb, Labels: podLabels,
				Metadata: &runtimeapi.PodSandboxMetadata{Name: pod, Uid: uid, Namespace: ns}, State: runtimeapi.PodSandboxState_SANDBOX_READY})
		}
		labels := map[string]string{"io.kubernetes.container.name": name}
		for k, v := range podLabels {
			labels[k] = v
		}
		md := &runtimeapi.ContainerMetadata{Name: name}
		r.containers = append(r.containers, &runtimeapi.Container{Id: id, PodSandboxId: sb, Metadata: md, Labels: labels,
			Image: &runtimeapi.ImageSpec{Image: "docker.io/library/nginx:1.27"}, State: runtimeapi.ContainerState_CONTAINER_RUNNING})
		r.stats = append(r.stats, &runtimeapi.ContainerStats{
			Attributes: &runtimeapi.ContainerAttributes{Id: id, Metadata: md, Labels: labels},
			WritableLayer: &runtimeapi.FilesystemUsage{FsId: &runtimeapi.FilesystemIdentifier{Mountpoint: layerRoot},
				UsedBytes: &runtimeapi.UInt64Value{Value: used}, InodesUsed: &runtimeapi.UInt64Value{Value: inodes}},
		})
	}
	return r, sc.Err()
}

func main() {
	socket := flag.String("socket", "", "unix socket to serve the CRI runtime service on")
	manifest := flag.String("manifest", "", "the containers, one a line")
	layerRoot := flag.String("layer-root", "/", "host directory reported as the layers' filesystem (fs_id)")
	flag.Parse()
	r, err := load(*manifest, *layerRoot)
	if err != nil {
		log.Fatal(err)
	}
	_ = os.Remove(*socket)
	lis, err := net.Listen("unix", *socket)
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, r)
	log.Fatal(srv.Serve(lis))
}
